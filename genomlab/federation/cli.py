"""``genomlab federation meta-analyse``: combine released summary statistics of platforms."""

from __future__ import annotations

from pathlib import Path

import click


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


commands: list[click.Command] = [federation]
