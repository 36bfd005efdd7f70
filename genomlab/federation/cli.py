"""``genomlab federation``: combine released summary statistics of platforms
(``meta-analyse``, ``summary-statistics``) and ask several countries' Beacons in one call
(``beacon-query``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from genomlab.federation import BeaconEndpoint, FederatedBeaconAnswer


@click.group("federation")
def federation() -> None:
    """Analyses across platforms (1+Million Genomes) from released summary statistics."""


@federation.command("meta-analyse")
@click.argument(
    "sumstats", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Meta-analysis table (TSV), written to a temporary file and renamed.",
)
def meta_analyse_command(sumstats: tuple[Path, ...], out_file: Path) -> None:
    """Fixed-effect inverse-variance meta-analysis of SUMSTATS (one released table per platform).

    Each file needs the columns variant, chromosome, position, effect_allele, other_allele, n,
    beta, standard_error and p_value; variants are matched by position and aligned by allele.
    """
    from genomlab.errors import ValidationFailed
    from genomlab.federation import meta_analyse, read_summary_statistics, write_table

    if len(set(sumstats)) != len(sumstats):
        raise ValidationFailed("meta-analysis: a summary-statistics file is given twice")
    tables = {str(path): read_summary_statistics(path) for path in sumstats}
    result = meta_analyse(tables)
    write_table(result, out_file)
    best = result.nsmallest(1, "p_value")
    lead = (
        f"; smallest p {best['p_value'].iloc[0]:.3g} at {best['variant'].iloc[0]}"
        if len(best)
        else ""
    )
    click.echo(f"{len(result)} variants from {len(tables)} studies in {out_file}{lead}")


@federation.command("summary-statistics")
@click.option(
    "--qc",
    "qc_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Output folder of `genomlab workspace qc run` (with work/qc_calls.bed).",
)
@click.option(
    "--samples",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sample table (samples.tsv) with the phenotype column and reported_sex.",
)
@click.option("--phenotype", required=True, help="Quantitative column, e.g. quant_trait.")
@click.option("--n-pcs", default=4, show_default=True, help="Ancestry PCs used as covariates.")
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Summary-statistics table (TSV), e.g. in the project's outputs/ for the airlock.",
)
def summary_statistics_command(
    qc_dir: Path, samples: Path, phenotype: str, n_pcs: int, out_file: Path
) -> None:
    """Per-variant association of PHENOTYPE in this workspace as an exchange table (alleles, n,
    beta, standard_error, p_value; no sample-level column), to release through the airlock."""
    import pandas as pd

    from genomlab.federation import compute_summary_statistics, write_summary_statistics

    info = pd.read_csv(
        samples, sep="\t", na_values=["NA"], true_values=["true"], false_values=["false"]
    ).set_index("sample")
    table = compute_summary_statistics(qc_dir, info, phenotype, n_pcs=n_pcs)
    write_summary_statistics(table, out_file)
    click.echo(
        f"{len(table)} variants, n up to {int(table['n'].max()) if len(table) else 0}, "
        f"in {out_file}"
    )


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint=option)
        pairs.append((name.strip(), rest.strip()))
    return pairs


def parse_beacon_options(beacons: tuple[str, ...], cas: tuple[str, ...]) -> list[BeaconEndpoint]:
    """``--beacon NAME=URL[,CREDENTIAL]`` and ``--ca NAME=PATH`` as endpoints. CREDENTIAL is
    a file holding the bearer token (a visa of that country's platform): a token on the command
    line would be visible to every user of the machine in the process list."""
    from genomlab.federation import BeaconEndpoint

    ca_of: dict[str, Path] = {}
    for name, ca_file in _pairs(cas, "--ca"):
        if not Path(ca_file).is_file():
            raise click.BadParameter(f"{name}: no CA file {ca_file}", param_hint="--ca")
        ca_of[name] = Path(ca_file)
    endpoints = []
    for name, rest in _pairs(beacons, "--beacon"):
        url, _, credential_file = rest.partition(",")
        if not url.startswith(("https://", "http://")):
            raise click.BadParameter(
                f"{name}: {url!r} is not an http(s) URL", param_hint="--beacon"
            )
        credential = None
        if credential_file:
            secret = Path(credential_file)
            if not secret.is_file():
                raise click.BadParameter(
                    f"{name}: no credential file {credential_file}", param_hint="--beacon"
                )
            credential = secret.read_text(encoding="utf-8").strip()
            if not credential:
                raise click.BadParameter(
                    f"{name}: credential file {credential_file} is empty", param_hint="--beacon"
                )
        endpoints.append(BeaconEndpoint(name, url, credential, ca_of.pop(name, None)))
    if ca_of:
        raise click.BadParameter(f"{sorted(ca_of)[0]}: no such --beacon", param_hint="--ca")
    return endpoints


def build_beacon_request(
    filters: tuple[str, ...], granularity: str, allele: str | None
) -> dict[str, object]:
    """The Beacon v2 request body: ``filters`` (ids), ``granularity`` and one allele
    ``CHR:POS:REF:ALT`` (1-based POS; sent 0-based as ``start``)."""
    query: dict[str, object] = {
        "filters": [{"id": f} for f in filters],
        "requestedGranularity": granularity,
    }
    if allele is not None:
        parts = allele.split(":")
        if len(parts) != 4 or not parts[1].isdigit() or int(parts[1]) < 1:
            raise click.BadParameter(f"{allele!r} is not CHR:POS:REF:ALT", param_hint="--allele")
        contig, position, ref, alt = parts
        query["requestParameters"] = {
            "assemblyId": "GRCh38",
            "referenceName": contig,
            "start": str(int(position) - 1),
            "referenceBases": ref,
            "alternateBases": alt,
        }
    return {"meta": {"apiVersion": "v2.0.0"}, "query": query}


BEACON_COLUMNS = (
    ("beacon", "Beacon"),
    ("status", "Status"),
    ("http_status", "HTTP"),
    ("exists", "Exists"),
    ("granularity", "Granularity"),
    ("count", "Count"),
    ("detail", "Detail"),
)


def format_beacon_table(answer: FederatedBeaconAnswer) -> str:
    """One line per Beacon (name, status, HTTP status, exists, granularity, count, detail), then
    the aggregate (``ALL``), laid out as every genomlab table
    (:func:`~genomlab.cli_output.render_rows`)."""
    from genomlab.cli_output import render_rows

    def shown(value: bool | None) -> str | None:
        return None if value is None else str(value).lower()

    rows: list[dict[str, object]] = [
        {
            "beacon": a.name,
            "status": a.status,
            "http_status": a.http_status,
            "exists": shown(a.exists),
            "granularity": a.granularity,
            "count": a.count,
            "detail": " ".join(a.detail.split())[:120],
        }
        for a in answer.answers
    ]
    answered = sum(a.answered for a in answer.answers)
    missing = ", ".join(f"{a.name} ({a.status})" for a in answer.not_answered)
    rows.append(
        {
            "beacon": "ALL",
            "status": f"{answered}/{len(answer.answers)} answered",
            "exists": shown(answer.exists),
            "granularity": answer.granularity,
            "count": answer.count,
            "detail": f"not answered: {missing}" if missing else "",
        }
    )
    return render_rows(rows, BEACON_COLUMNS, "table")


@federation.command("beacon-query")
@click.option(
    "--beacon",
    "beacons",
    multiple=True,
    required=True,
    metavar="NAME=URL[,CREDENTIAL]",
    help="A Beacon's root URL (…/api/beacon) and a file holding your bearer credential for it "
    "(a visa of that country's platform); repeat per country. No CREDENTIAL: anonymous.",
)
@click.option(
    "--ca",
    "cas",
    multiple=True,
    metavar="NAME=PATH",
    help="The CA certificate a Beacon's certificate chains to (default: the system's).",
)
@click.option("--filter", "filters", multiple=True, metavar="ID", help="A filter id; repeat.")
@click.option(
    "--granularity",
    type=click.Choice(["boolean", "count"]),
    default="count",
    show_default=True,
)
@click.option("--allele", metavar="CHR:POS:REF:ALT", help="One allele (1-based POS).")
@click.option(
    "--entry-type",
    type=click.Choice(["individuals", "g_variants"]),
    default="individuals",
    show_default=True,
)
@click.option("--timeout", default=20.0, show_default=True, help="Seconds per Beacon.")
@click.option("--json", "as_json", is_flag=True, help="Print the answers and aggregate as JSON.")
def beacon_query_command(
    beacons: tuple[str, ...],
    cas: tuple[str, ...],
    filters: tuple[str, ...],
    granularity: str,
    allele: str | None,
    entry_type: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Ask several countries' Beacons one Beacon v2 query at once: each Beacon's answer (or
    why it gave none) and the aggregate (exists if any; a summed count only when every Beacon
    gave a count, else boolean). Exits 1 only when no Beacon answered."""
    from genomlab.federation import query_beacons

    endpoints = parse_beacon_options(beacons, cas)
    request = build_beacon_request(filters, granularity, allele)
    answer = query_beacons(endpoints, request, entry_type=entry_type, timeout=timeout)
    if as_json:
        click.echo(json.dumps(answer.to_json(), indent=2))
    else:
        click.echo(format_beacon_table(answer))
    if not any(a.answered for a in answer.answers):
        raise SystemExit(1)


commands: list[click.Command] = [federation]
