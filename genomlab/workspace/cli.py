"""``genomlab workspace qc run`` and ``genomlab workspace analysis association``: cohort QC and
GWAS from the shell.

A release is read as the verified person of the credentials file (``--credentials``, else
``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``), after the entitlement check
of :func:`~genomlab.workspace.release.open_release`; no name in the environment counts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from genomlab.cli_context import CliContext, credentials_option, get_acting_person, pass_cli
from genomlab.errors import ValidationFailed


def _source_options[F: Callable[..., Any]](command: F) -> F:
    options = [
        click.option("--vcf", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Cohort VCF (bgzipped); converted once to a MatrixTable under OUT/work."),
        click.option("--release", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="Release directory with genotypes.mt and clinical Parquet keyed by s."),
        click.option("--samples", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="samples.tsv or PLINK .fam for a VCF (default: next to the VCF)."),
        click.option("--fam", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="PLINK .fam with the declared pedigree and reported sex."),
        click.option("--out", "out_dir", required=True,
                     type=click.Path(file_okay=False, path_type=Path), help="Output directory."),
        click.option("--spark-master", default=None,
                     help="Override the configured Spark master, e.g. local[2]."),
        credentials_option(),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _check_source(cli: CliContext, vcf: Path | None, release: Path | None,
                  samples: Path | None, fam: Path | None,
                  credentials: Path | None) -> tuple[Path | None, str | None]:
    """The sample file and the verified reader of a release, after refusing bad combinations and
    a release that person may not read (the entitlement check of
    :func:`~genomlab.workspace.release.open_release`)."""
    if (vcf is None) == (release is None):
        raise ValidationFailed("give exactly one of --vcf or --release")
    if samples is not None and fam is not None:
        raise ValidationFailed("give at most one of --samples and --fam")
    user = None
    if release is not None:
        from genomlab.workspace.release import open_release_folder

        user = get_acting_person(cli, credentials)
        open_release_folder(release, config=cli.config, user=user)
    return samples or fam, user


@click.group("workspace")
def workspace() -> None:
    """The researcher's workspace: cohort QC and association analysis on Hail."""


@workspace.group("qc")
def qc() -> None:
    """Cohort quality control (sample and variant QC) on Hail."""


@qc.command("run")
@_source_options
@click.option("--reference", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None,
              help="Labelled ancestry reference: published loadings (loadings.tsv, "
                   "reference_scores.tsv, eigenvalues.tsv) or a panel (panel.bed + labels.tsv, "
                   "as a world's reference_panel/). Without it ancestry is cohort-only.")
@click.option("--engine", type=click.Choice(["auto", "hail", "stream"]), default="auto",
              show_default=True,
              help="How genotypes reach the QC: auto = a VCF on a local master without Hail "
                   "(bcftools/plink2 + numpy, streamed), else Hail (cluster executors).")
@pass_cli
def qc_run(cli: CliContext, vcf: Path | None, release: Path | None, samples: Path | None,
           fam: Path | None, out_dir: Path, spark_master: str | None,
           credentials: Path | None, reference: Path | None, engine: str) -> None:
    """Run sample and variant QC; write sample_qc.tsv, variant_qc.tsv, relatedness.tsv,
    pca_scores.tsv, mendel.tsv, pedigree.tsv and PNG plots to OUT.

    sample_qc.tsv has one row per sample with `sample`, `pass` (true/false) and `reasons`
    (semicolon list of call_rate, heterozygosity, sex_mismatch, duplicate, relatedness, mendel,
    ancestry_outlier), followed by the metrics; qc_provenance.json records the thresholds, the
    ancestry method and reference and the software versions.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from genomlab.hail_session import init_hail
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    sample_file, user = _check_source(cli, vcf, release, samples, fam, credentials)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("starting", total=None)
        # Hail (Spark) starts only if the QC needs it: not for a VCF on a local master.
        result = run_cohort_qc(lambda: init_hail(cli.config, master=spark_master), out_dir,
                               vcf=vcf, release=release, samples=sample_file,
                               reference=reference,
                               progress=lambda step: bar.update(task, description=step),
                               engine=engine, config=cli.config, user=user,
                               spark_master=spark_master or cli.config.spark.master)
    failed = result.sample_qc[~result.sample_qc["pass"]]
    click.echo(f"{len(result.sample_qc)} samples, {len(failed)} failing; "
               f"{int((~result.variant_qc['pass']).sum())} of {len(result.variant_qc)} variants "
               f"failing; tables and plots in {out_dir}")
    for step, seconds in result.timings.items():
        click.echo(f"  {seconds:7.1f} s  {step}")


@workspace.group("analysis")
def analysis() -> None:
    """Association analysis on a QC'd cohort."""


@analysis.command("association")
@_source_options
@click.option("--qc", "qc_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Output directory of `genomlab workspace qc run` (passing samples, variants, "
                   "PCs).")
@click.option("--phenotype", required=True, help="Column of the sample table, e.g. quant_trait.")
@click.option("--binary/--quantitative", default=None,
              help="Logistic or linear regression (default: binary if the column is boolean).")
@click.option("--n-pcs", default=4, show_default=True, help="Ancestry PCs used as covariates.")
@pass_cli
def analysis_association(cli: CliContext, vcf: Path | None, release: Path | None,
                         samples: Path | None, fam: Path | None, out_dir: Path,
                         spark_master: str | None, credentials: Path | None, qc_dir: Path,
                         phenotype: str,
                         binary: bool | None, n_pcs: int) -> None:
    """Regress each QC-passing variant on PHENOTYPE with sex and PCs as covariates; write
    association.tsv, manhattan.png and qq.png to OUT.
    """
    from genomlab.hail_session import init_hail
    from genomlab.workspace.analysis.association import run_association

    sample_file, user = _check_source(cli, vcf, release, samples, fam, credentials)
    hl = init_hail(cli.config, master=spark_master)
    result = run_association(hl, out_dir, qc_dir=qc_dir, phenotype=phenotype, vcf=vcf,
                             release=release, samples=sample_file, binary=binary, n_pcs=n_pcs,
                             config=cli.config, user=user)
    hits = result[result["p_value"] < 5e-8]
    click.echo(f"{len(result)} variants tested, {len(hits)} at p < 5e-8; results in {out_dir}")
    for row in hits.sort_values("p_value").head(20).itertuples():
        click.echo(f"  {row.variant}  beta {row.beta:.3f}  p {row.p_value:.3g}")


commands: list[click.Command] = [workspace]
