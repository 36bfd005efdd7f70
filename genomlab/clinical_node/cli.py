"""``genomlab kdk``: a clinical data node's records.

``genomlab kdk submit`` needs the trust centre, which this package must not import; it is
added to this group by :mod:`genomlab.intake.cli` (the composition root).
"""

from __future__ import annotations

from pathlib import Path

import click

from genomlab.cli_context import CliContext, node_option, pass_cli, require_node
from genomlab.cli_output import OutputFormat, echo_rows, format_option


@click.group()
def kdk() -> None:
    """Clinical data node (KDK): intake of clinical records, record states."""


@kdk.command("status")
@node_option("KDK id, e.g. KDKTUE005.")
@format_option()
@pass_cli
def status_cmd(cli: CliContext, node_id: str, output_format: OutputFormat) -> None:
    """List the node's records with state and, for errors, the field."""
    from genomlab.clinical_node.intake import ClinicalNode

    rows = ClinicalNode(cli.config, require_node(cli, "kdk", node_id)).get_records()
    echo_rows(rows, [("record_id", "Record"), ("state", "State"),
                     ("failure_field", "Failed field")], output_format,
              footer=f"{len(rows)} records")


@kdk.command("report")
@node_option("KDK id, e.g. KDKTUE005.")
@click.option("--year", type=int, required=True, help="Year of the quarter.")
@click.option("--quarter", type=click.IntRange(1, 4), required=True, help="Quarter 1-4.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for the two TSV files.")
@pass_cli
def report_cmd(cli: CliContext, node_id: str, year: int, quarter: int, out_dir: Path) -> None:
    """Write the quarterly report's two TSVs (overview with revocations and deletions,
    per-record infos)."""
    from genomlab.clinical_node.quarterly import write_quarterly_tsvs

    node_id = require_node(cli, "kdk", node_id)
    for path in write_quarterly_tsvs(cli.config, node_id, year=year, quarter=quarter,
                                     out_dir=out_dir):
        click.echo(str(path))


commands: list[click.Command] = [kdk]
