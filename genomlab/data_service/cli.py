"""``genomlab data-service …``: feasibility queries, the feasibility index and releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from genomlab.cli_context import CliContext, credentials_option, get_acting_person, pass_cli
from genomlab.errors import GenomlabError

if TYPE_CHECKING:  # --granularity's choices are its values
    from genomlab.data_service.beacon import Granularity


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
@credentials_option()
@pass_cli
def feasibility_cmd(cli: CliContext, filters: tuple[str, ...], variant: str | None,
                    granularity: Granularity, request_file: Path | None,
                    credentials: Path | None) -> None:
    """Count persons (or carriers of an allele) across all nodes; small counts suppressed.

    Prints a GA4GH Beacon v2 response (JSON). Counts of 1 to min_cell_count-1 show as "<10";
    answers that would reveal a small cell by difference with the user's earlier answers (or a
    union/intersection of two of them) are suppressed. Each user has a budget of
    disclosure.feasibility_budget answered queries per disclosure.feasibility_budget_days days
    (default 100 per 30); beyond it the query is refused.

    When the data service runs (genomlab serve data-service) the query goes to it with your
    person credentials (--credentials, $GENOMLAB_CREDENTIALS or ~/.genomlab/credentials.json):
    the service
    answers by its own disclosure rules and audits you as the credentials' person.
    """
    from genomlab.clients.data_service import (
        DataServiceClient,
        load_person_tokens,
        service_running,
    )
    from genomlab.data_service.beacon import make_request
    from genomlab.data_service.feasibility import run_feasibility_query

    if request_file is not None:
        try:
            request = json.loads(request_file.read_text())
        except json.JSONDecodeError as exc:
            raise GenomlabError(f"{request_file}: not JSON ({exc.msg}, line {exc.lineno})"
                                ) from exc
    else:
        request = make_request(list(filters), variant=variant,
                               granularity=granularity)
    if service_running(cli.config, "data_service"):
        answer = DataServiceClient(cli.config, load_person_tokens(cli.config, credentials)
                                   ).run_feasibility_query(request)
    else:
        answer = run_feasibility_query(cli.config, request,
                                       user=get_acting_person(cli, credentials))
    click.echo(json.dumps(answer, indent=1, ensure_ascii=False))


@data_service.command("index")
@pass_cli
def index_cmd(cli: CliContext) -> None:
    """Rebuild the feasibility index from every GRZ and KDK under the home (after intake).

    Reads each node's consented datasets and each GRZ's allele sites (one Hail pass per GRZ);
    no pseudonym or genotype is kept in the index. The index replaces the previous one inside
    the data service's store (no files of its own).

    With the data service running (``genomlab serve data-service``) the service does it, asked
    with the operator credential in its folder, and reads the nodes through their services.
    """
    from genomlab.clients.data_service import (
        SERVICE,
        DataServiceOperatorClient,
        service_running,
    )
    from genomlab.data_service.adapters import get_node_readers
    from genomlab.data_service.index import build_feasibility_index, load_feasibility_index

    if service_running(cli.config, SERVICE):
        from genomlab.institution import Institution

        folder = Institution(cli.config, "data_service").directory
        built = DataServiceOperatorClient(cli.config, folder).build_feasibility_index()
        click.echo(f"feasibility index {built['digest'][:12]}: {built['n_genome_datasets']} "
                   f"genome datasets, {built['n_clinical_datasets']} clinical datasets, "
                   f"{built['n_sites']} sites from {', '.join(built['nodes']) or 'no node'} "
                   "(by the data service)")
        return
    grzs, kdks = get_node_readers(cli.config)
    digest = build_feasibility_index(cli.config, grzs, kdks)
    index = load_feasibility_index(cli.config)
    click.echo(f"feasibility index {digest[:12]}: {index.genome.height} genome datasets, "
               f"{index.clinical.height} clinical datasets, {index.sites.height} sites from "
               f"{len(grzs)} GRZ and {len(kdks)} KDK")


@data_service.command("release")
@click.argument("application")
@click.option("--via-trust-center-service", is_flag=True,
              help="Ask the running trust-centre service (genomlab serve trust-center) for the "
                   "linkage map with the data service's platform client "
                   "(data_service/platform-client.json) instead of opening its store.")
@pass_cli
def release_cmd(cli: CliContext, application: str, via_trust_center_service: bool) -> None:
    """Release APPLICATION's data into its project's workspace (verified, linked, atomic).

    Verifies the platform's signed approval, selects the consented cohort, gets the linkage map
    from the trust centre, and writes genotypes.mt, clinical Parquet and manifest.json (or
    only suppressed aggregates for an aggregated-level application) to
    <home>/workspaces/<project>/release.
    """
    from rich.console import Console

    from genomlab.clients.trust_center import TrustCenterClient
    from genomlab.data_service.adapters import get_node_readers
    from genomlab.data_service.approval import check_data_service_approved
    from genomlab.data_service.release import (
        LinkageService,
        release_application,
        verify_release_approval,
    )
    from genomlab.hail_session import init_hail
    from genomlab.trust_center.service import TrustCenter

    check_data_service_approved(cli.config)  # a suspended data service: refused, nothing done
    verify_release_approval(cli.config, application)  # refuse before starting Spark
    console = Console(stderr=True)
    with console.status("releasing") as status:
        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        hl = init_hail(cli.config)
        grzs, kdks = get_node_readers(cli.config, hl)
        linkage: LinkageService = (
            TrustCenterClient.for_instance(cli.config, "data_service")
            if via_trust_center_service else TrustCenter(cli.config))
        result = release_application(cli.config, application, genome_nodes=grzs,
                                     clinical_nodes=kdks, linkage_service=linkage,
                                     hl=hl, progress=progress)
    counts = result.manifest["counts"]
    click.echo(f"release {result.release_id} of {application} ({result.manifest['level']}): "
               f"{counts['n_persons']} persons -> {result.path}")
    if result.withdrawn:
        click.echo(f"{len(result.withdrawn)} person(s) left the cohort; notice written to the "
                   "project's notices/")


commands = [data_service]
