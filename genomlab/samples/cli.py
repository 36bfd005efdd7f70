"""``genomlab samples``: generate a synthetic genomDE world (no real patient data)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def samples() -> None:
    """Synthetic genomDE worlds: genotypes, submissions, records and a truth file."""


@samples.command("generate")
@click.option("--patients", "n_patients", default=60, show_default=True,
              help="Index patients (one initial submission each).")
@click.option("--variants", "n_variants", default=5000, show_default=True,
              help="Sites per VCF.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same bytes.")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Empty or absent output directory.")
@click.option("--threads", default=2, show_default=True, help="bgzip threads for cohort.vcf.bgz.")
@click.option("--quant-beta", "quant_betas", type=float, multiple=True,
              help="Per-allele effect on quant_trait (trait SD) of one planted site; repeat for "
                   "more sites. Default: the large built-in effects (1.2, -1.0, 0.9).")
@click.option("--sites-seed", type=int, default=None,
              help="Seed of the variant sites and planted variants (default: --seed); worlds "
                   "sharing it share those sites but not persons.")
@click.option("--detailed-qc-reads", is_flag=True,
              help="Index donors' FASTQs are reads from detailed_qc/reference.fa at their "
                   "metadata's figures, inflated submissions are planted and two oncological "
                   "index donors get WES/panel libraries with their own target BEDs (GRZ "
                   "detailed QC; 60 patients: 34 MB instead of 9.6 MB).")
def generate(n_patients: int, n_variants: int, seed: int, out_dir: Path, threads: int,
             quant_betas: tuple[float, ...], sites_seed: int | None,
             detailed_qc_reads: bool) -> None:
    """Write a seeded synthetic world (truth.json, genotypes/, submissions/, hospitals/, kdk/)."""
    from rich.progress import Progress

    from genomlab.samples import generate_world
    from genomlab.samples.phenotypes import QUANT_BETAS

    with Progress(transient=True) as bar:
        task = bar.add_task("genotypes", total=n_variants)
        summary = generate_world(out_dir, n_patients=n_patients, n_variants=n_variants,
                                 seed=seed, threads=threads,
                                 quant_betas=quant_betas or QUANT_BETAS, sites_seed=sites_seed,
                                 progress=lambda n: bar.advance(task, n),
                                 detailed_qc_reads=detailed_qc_reads)
    click.echo(f"wrote {summary.n_files} files to {summary.out_dir}: {summary.n_samples} samples "
               f"of {summary.n_patients} patients, {summary.n_variants} variants, "
               f"{summary.n_submissions} submissions (seed {summary.seed})")


commands: list[click.Command] = [samples]
