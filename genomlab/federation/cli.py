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


commands: list[click.Command] = [federation]
