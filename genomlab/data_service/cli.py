"""``genomlab data-service …``: feasibility queries, the feasibility index and releases."""

from __future__ import annotations

import json
from pathlib import Path

import click

from genomlab.cli import CliContext, pass_cli
from genomlab.errors import GenomlabError


@click.group("data-service")
def data_service() -> None:
    """Datendienst: feasibility counts (Beacon v2), the feasibility index, releases."""


@data_service.command("feasibility")
@click.option("--filter", "filters", multiple=True, metavar="ID",
              help="Beacon filter id, repeatable: diseaseType:rare, libraryType:wgs, "
                   "NCIT:C16576 (female), NCIT:C20197 (male), ageBand:40-49, ICD10GM:G40, "
                   "HP:0001250, node:GRZK00001. Same kind = OR, different kinds = AND.")
@click.option("--variant", default=None, metavar="CHR:POS:REF:ALT",
              help="Is this allele seen? (1-based position, GRCh38).")
@click.option("--granularity", type=click.Choice(["boolean", "count"]), default="count",
              show_default=True, help="Beacon granularity of the answer.")
@click.option("--request", "request_file", type=click.Path(exists=True, dir_okay=False,
                                                              path_type=Path),
              default=None, help="A Beacon v2 request body (JSON) instead of the options.")
@click.option("--as", "user", default=None, help="Asking user (default: $JUPYTERHUB_USER or "
                                                 "local_user).")
@pass_cli
def feasibility_cmd(cli: CliContext, filters: tuple[str, ...], variant: str | None,
                    granularity: str, request_file: Path | None, user: str | None) -> None:
    """Count persons (or carriers of an allele) across all nodes; small counts suppressed.

    Prints a GA4GH Beacon v2 response (JSON). Counts of 1 to min_cell_count-1 show as "<10";
    answers that would reveal a small cell by difference with an earlier answer are suppressed.
    """
    from genomlab.data_service.beacon import make_request
    from genomlab.data_service.feasibility import run_feasibility_query
    from genomlab.platform.applications.identity import get_current_user

    if request_file is not None:
        try:
            request = json.loads(request_file.read_text())
        except json.JSONDecodeError as exc:
            raise GenomlabError(f"{request_file}: not JSON ({exc.msg}, line {exc.lineno})"
                                ) from exc
    else:
        request = make_request(list(filters), variant=variant,
                               granularity=granularity)  # type: ignore[arg-type]
    answer = run_feasibility_query(cli.config, request,
                                   user=user or get_current_user(cli.config))
    click.echo(json.dumps(answer, indent=1, ensure_ascii=False))


commands = [data_service]
