"""The cohort QC pipeline: VCF or release in, stable tables and plots out.

Engineering (Hail local mode is slow for counts, so Hail does what only it does well):

1. the VCF is converted once to a MatrixTable (partitions sized to the cores) and reused;
2. one parallel Hail pass writes the ADJ-filtered calls as a 2-bit PLINK ``.bed``;
3. one Hail pass of column aggregations gives DP/GQ stats, contamination and filtered calls;
4. everything else — Hail's sample/variant QC counts, HWE, chrX F, KING, Mendel errors, the
   PCA with relateds projected — runs on the in-memory int8 matrix with numpy/BLAS, validated
   against Hail's own methods and plink2 in the tests.

Order of the sample checks follows gnomAD: hard filters (call rate), relatedness, ancestry PCA
on unrelated samples, then per-group outliers (heterozygosity) and pedigree checks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.hail_session import HailModule
from genomlab.leftovers import make_owned_tmp_path
from genomlab.workspace.io import GenotypeMatrix, export_genotype_matrix, get_qc_call_expr
from genomlab.workspace.qc.ancestry import (
    assign_ancestry_groups,
    compute_pca_with_relateds,
    get_ancestry_outliers,
)
from genomlab.workspace.qc.filtering import (
    get_call_rate_failures,
    get_heterozygosity_failures,
    get_unrelated_mask,
    summarise_sample_flags,
)
from genomlab.workspace.qc.relatedness import (
    KING_DUPLICATE,
    KING_SECOND_DEGREE,
    compute_king,
    compute_mendel_errors,
    get_kinship_noise_threshold,
    get_maximal_independent_set,
    get_mendel_failures,
    get_pedigree_failures,
    get_related_pairs,
)
from genomlab.workspace.qc.sample_qc import compute_entry_stats, compute_sample_metrics
from genomlab.workspace.qc.sex import compute_sex_check
from genomlab.workspace.qc.variant_qc import (
    annotate_variant_filters,
    compute_genotype_counts,
    compute_hwe_midp,
    compute_variant_metrics,
)


@dataclass(frozen=True)
class QcThresholds:
    """Thresholds of the pipeline, each with its source.

    - ``min_gq``/``min_dp``/``min_het_ab``: gnomAD ADJ genotype filter (20 / 10 / 0.2).
    - ``min_call_rate``: samples, Hail GWAS tutorial (0.97).
    - ``het_n_mad``: gnomAD stratified outlier filter (median ± 4 MAD per ancestry group).
    - ``min_related_kinship``: KING second degree (0.0884, Manichaikul 2010; Anderson 2010);
      undeclared relatives must also clear the noise of unrelated pairs
      (``get_kinship_noise_threshold``), which matters with few variants.
    - ``max_mendel_error_rate``: PLINK ``--me 0.05`` per trio.
    - ``qc_min_variant_call_rate`` 0.99, ``qc_min_af`` 0.001 and ``qc_min_p_hwe`` 1e-8: gnomAD
      ``get_qc_mt``; ``qc_max_variants`` thins the QC set evenly (a stand-in for LD pruning).
    - ``variant_min_call_rate`` 0.95 / ``variant_min_p_hwe`` 1e-6: see ``annotate_variant_filters``.
    """

    min_gq: int | None = 20
    min_dp: int | None = 10
    min_het_ab: float | None = 0.2
    min_call_rate: float = 0.97
    het_n_mad: float = 4.0
    min_related_kinship: float = KING_SECOND_DEGREE
    max_mendel_error_rate: float = 0.05
    qc_min_variant_call_rate: float = 0.99
    qc_min_af: float = 0.001
    qc_min_p_hwe: float = 1e-8
    qc_max_variants: int = 20_000
    n_pcs: int = 10
    ancestry_n_mad: float = 6.0
    min_group_size: int = 10
    variant_min_call_rate: float = 0.95
    variant_min_p_hwe: float = 1e-6


@dataclass
class QcResult:
    """Tables of one QC run; ``timings`` holds seconds per step."""

    sample_qc: pd.DataFrame
    variant_qc: pd.DataFrame
    relatedness: pd.DataFrame
    pca_scores: pd.DataFrame
    trios: pd.DataFrame
    pedigree: pd.DataFrame
    eigenvalues: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], step: str,
           progress: Callable[[str], None] | None) -> Iterator[None]:
    if progress is not None:
        progress(step)
    start = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - start


def get_qc_variant_mask(gm: GenotypeMatrix, samples_ok: np.ndarray,
                        thresholds: QcThresholds) -> np.ndarray:
    """Variants for KING and PCA: autosomal bi-allelic SNVs passing gnomAD's ``get_qc_mt``
    call-rate, AF and HWE cut-offs among the samples that pass the call-rate filter, thinned
    evenly to at most ``qc_max_variants``.

    Examples
    --------
    The second variant is monomorphic, the third called in half the samples:

    >>> gm = GenotypeMatrix.from_counts([[0, 1, 2, 1], [0, 0, 0, 0], [1, -1, -1, 1]])
    >>> get_qc_variant_mask(gm, np.ones(4, bool), QcThresholds()).tolist()
    [True, False, False]
    """
    counts = compute_genotype_counts(gm.n_alt[:, samples_ok], axis=1)
    n_ok = max(int(samples_ok.sum()), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        af = (counts["n_het"] + 2 * counts["n_hom_var"]) / (2 * counts["n_called"])
    snv = (gm.variants["ref"].str.len() == 1) & (gm.variants["alt"].str.len() == 1)
    mask = (gm.is_autosomal & snv.to_numpy()
            & (counts["n_called"] / n_ok > thresholds.qc_min_variant_call_rate)
            & (np.minimum(af, 1 - af) > thresholds.qc_min_af))
    idx = np.flatnonzero(mask)
    hwe = compute_hwe_midp(counts["n_hom_ref"][idx], counts["n_het"][idx],
                           counts["n_hom_var"][idx])
    idx = idx[hwe > thresholds.qc_min_p_hwe]
    if len(idx) > thresholds.qc_max_variants:
        idx = idx[np.linspace(0, len(idx) - 1, thresholds.qc_max_variants).astype(int)]
    out = np.zeros(len(mask), dtype=bool)
    out[idx] = True
    return out


def compute_cohort_qc(hl: HailModule, mt: Any, info: pd.DataFrame, work_dir: Path, *,
                      thresholds: QcThresholds | None = None,
                      progress: Callable[[str], None] | None = None) -> QcResult:
    """Run sample and variant QC on ``mt`` (columns keyed by ``s``) with sample table ``info``.

    Parameters
    ----------
    info:
        Indexed by ``s``; ``reported_sex``, ``family``, ``father``, ``mother`` (see ``io``).
    work_dir:
        Scratch for the exported ``.bed``.

    Examples
    --------
    >>> result = compute_cohort_qc(hl, mt, info, Path("work"))  # doctest: +SKIP
    >>> result.sample_qc[["pass", "reasons"]].head()  # doctest: +SKIP
    """
    t = thresholds or QcThresholds()
    timings: dict[str, float] = {}
    with _timed(timings, "export genotypes (Hail pass 1)", progress):
        call = get_qc_call_expr(hl, mt, min_gq=t.min_gq, min_dp=t.min_dp, min_het_ab=t.min_het_ab)
        gm = export_genotype_matrix(hl, mt, call, work_dir / "qc_calls")
        crashpoint("qc.exported")
    with _timed(timings, "DP/GQ stats (Hail pass 2)", progress):
        entry_stats = compute_entry_stats(hl, mt, call)
    info = info.reindex(pd.Index(gm.samples, name="s"))

    with _timed(timings, "sample metrics", progress):
        metrics = compute_sample_metrics(gm).join(entry_stats)
        metrics["raw_call_rate"] = metrics["n_raw_called"] / max(gm.n_alt.shape[0], 1)
        flags = pd.DataFrame(index=metrics.index)
        flags["call_rate"] = get_call_rate_failures(metrics["raw_call_rate"],
                                                    min_call_rate=t.min_call_rate)
        sex = compute_sex_check(gm, info["reported_sex"])
        flags["sex_mismatch"] = sex["sex_mismatch"]

    with _timed(timings, "KING kinship", progress):
        samples_ok = ~flags["call_rate"].to_numpy()
        qc_gm = gm.subset(rows=get_qc_variant_mask(gm, samples_ok, t))
        kinship, ibs0 = compute_king(qc_gm)
        kin = pd.DataFrame(kinship, index=gm.samples, columns=gm.samples)
        pairs = get_related_pairs(kinship, ibs0, gm.samples, info["family"])

    with _timed(timings, "ancestry PCA", progress):
        close = pairs[pairs["kinship"] > t.min_related_kinship]
        drop = get_maximal_independent_set(
            gm.samples, list(zip(close["i"], close["j"], strict=True)), metrics["call_rate"])
        drop |= set(metrics.index[flags["call_rate"]])
        scores, eigenvalues = compute_pca_with_relateds(
            qc_gm, get_unrelated_mask(gm.samples, drop), k=t.n_pcs)
        groups = assign_ancestry_groups(scores)
        flags["ancestry_outlier"] = get_ancestry_outliers(
            scores, groups, min_group_size=t.min_group_size, n_mad=t.ancestry_n_mad)
        groups = groups.where(~flags["ancestry_outlier"], "unassigned")

    with _timed(timings, "outliers, relatedness, pedigree", progress):
        flags["heterozygosity"] = get_heterozygosity_failures(metrics, groups, n_mad=t.het_n_mad)
        noise = get_kinship_noise_threshold(kinship, groups.reindex(gm.samples).to_numpy())
        pairs = _annotate_findings(pairs, flags, max(t.min_related_kinship, noise))
        for finding, reason in (("duplicate", "duplicate"), ("undeclared", "relatedness")):
            found = pairs[pairs["finding"] == finding]
            removed = get_maximal_independent_set(
                gm.samples, list(zip(found["i"], found["j"], strict=True)), metrics["call_rate"])
            flags[reason] = metrics.index.isin(sorted(removed))
        trios = compute_mendel_errors(gm, info)
        mendel = get_mendel_failures(trios, kin, max_error_rate=t.max_mendel_error_rate)
        flags["mendel"] = metrics.index.isin(sorted(mendel))
        pedigree, unrelated_children = get_pedigree_failures(info, kin, trios)
        flags["relatedness"] |= metrics.index.isin(sorted(unrelated_children))

    with _timed(timings, "variant metrics", progress):
        passing = summarise_sample_flags(flags)["pass"].to_numpy()
        males = (sex["genetic_sex"] == "male").to_numpy()
        variant_qc = compute_variant_metrics(gm.subset(cols=passing), males=males[passing])
        variant_qc["p_value_hwe_min_group"] = compute_group_hwe_min(
            gm, groups.reindex(gm.samples).to_numpy(), passing, males,
            min_group_size=t.min_group_size)
        variant_qc = annotate_variant_filters(variant_qc, min_call_rate=t.variant_min_call_rate,
                                              min_p_value_hwe=t.variant_min_p_hwe)

    sample_qc = summarise_sample_flags(flags).join(metrics).join(
        sex[["x_f_stat", "genetic_sex", "reported_sex"]]).join(groups)
    sample_qc.insert(0, "sample", sample_qc.index)
    scores = scores.join(groups)
    return QcResult(sample_qc.reset_index(drop=True), variant_qc, pairs,
                    scores.rename_axis("sample").reset_index(), trios, pedigree, eigenvalues,
                    timings)


def compute_group_hwe_min(gm: GenotypeMatrix, groups: np.ndarray, passing: np.ndarray,
                          males: np.ndarray, *, min_group_size: int = 10) -> np.ndarray:
    """Per variant, the smallest HWE p over ancestry groups of at least ``min_group_size``
    passing samples: testing within groups avoids the Wahlund effect of a pooled test.

    Examples
    --------
    The first variant is fixed for different alleles in two groups: in equilibrium within each,
    far from it pooled.

    >>> from genomlab.workspace.qc.variant_qc import compute_variant_metrics
    >>> rng = np.random.default_rng(0)
    >>> gm = GenotypeMatrix.from_counts([np.repeat([0, 2], 20), rng.binomial(2, 0.5, 40)])
    >>> groups, everyone = np.repeat(["G1", "G2"], 20), np.ones(40, bool)
    >>> compute_group_hwe_min(gm, groups, everyone, ~everyone).round(3).tolist()
    [0.5, 0.283]
    >>> bool(compute_variant_metrics(gm)["p_value_hwe"][0] < 1e-10)
    True
    """
    out = np.full(gm.n_alt.shape[0], np.nan)
    for label in np.unique(groups[passing]):
        members = passing & (groups == label)
        if label == "unassigned" or members.sum() < min_group_size:
            continue
        p = compute_variant_metrics(gm.subset(cols=members), males=males[members])["p_value_hwe"]
        out = np.fmin(out, p.to_numpy())
    return out


def _annotate_findings(pairs: pd.DataFrame, flags: pd.DataFrame,
                       min_kinship: float) -> pd.DataFrame:
    """``finding`` per pair: duplicate, undeclared (relative), declared, or '' below
    ``min_kinship`` (KING second degree, raised to the noise level of unrelated pairs).

    Pairs with a heterozygosity outlier are not judged: contamination biases KING.
    """
    judged = ~(pairs["i"].map(flags["heterozygosity"]) | pairs["j"].map(flags["heterozygosity"]))
    finding = np.select(
        [~judged, pairs["kinship"] > KING_DUPLICATE, pairs["declared"],
         pairs["kinship"] > min_kinship],
        ["", "duplicate", "declared", "undeclared"], "")
    return pairs.assign(finding=finding)


QC_TABLES = ("sample_qc.tsv", "variant_qc.tsv", "relatedness.tsv", "pca_scores.tsv",
             "mendel.tsv", "pedigree.tsv")
QC_PLOTS = ("call_rate.png", "heterozygosity.png", "pca.png", "kinship.png")


def _write_tsv(table: pd.DataFrame, path: Path) -> Path:
    tmp = make_owned_tmp_path(path)
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
    try:
        out.to_csv(tmp, sep="\t", index=False, float_format="%.8g", na_rep="NA")
        crashpoint("qc.table_written")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_qc_outputs(result: QcResult, out_dir: Path, *,
                     thresholds: QcThresholds | None = None) -> list[Path]:
    """Write the QC tables (TSV, ``true``/``false`` booleans, ``NA``) and PNG plots.

    Examples
    --------
    ``result`` comes from :func:`compute_cohort_qc`, which runs on Hail:

    >>> [p.name for p in write_qc_outputs(result, Path("qc"))][:2]  # doctest: +SKIP
    ['sample_qc.tsv', 'variant_qc.tsv']
    """
    from genomlab.workspace.plots import (
        plot_call_rate,
        plot_heterozygosity,
        plot_kinship,
        plot_pca,
        save_figure,
    )

    t = thresholds or QcThresholds()
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = (result.sample_qc, result.variant_qc, result.relatedness, result.pca_scores,
              result.trios, result.pedigree)
    written = [_write_tsv(table, out_dir / name)
               for table, name in zip(tables, QC_TABLES, strict=True)]
    crashpoint("qc.tables_written")
    figures = (plot_call_rate(result.sample_qc, threshold=t.min_call_rate),
               plot_heterozygosity(result.sample_qc), plot_pca(result.pca_scores),
               plot_kinship(result.relatedness))
    written += [save_figure(fig, out_dir / name)
                for fig, name in zip(figures, QC_PLOTS, strict=True)]
    return written


def run_cohort_qc(hl: HailModule, out_dir: Path, *, vcf: Path | None = None,
                  release: Path | None = None, samples: Path | None = None,
                  thresholds: QcThresholds | None = None, n_partitions: int | None = None,
                  progress: Callable[[str], None] | None = None,
                  config: GenomlabConfig | None = None, user: str | None = None) -> QcResult:
    """VCF (or release) in, QC tables and plots in ``out_dir`` out.

    The converted MatrixTable and the exported ``.bed`` stay in ``out_dir/work`` and are reused.
    A release is read only after the entitlement check of ``open_release`` for ``user`` (default
    the current user) in ``config``'s home (default the environment's configuration).

    Examples
    --------
    >>> result = run_cohort_qc(hl, Path("qc"), vcf=Path("cohort.vcf.bgz"))  # doctest: +SKIP
    >>> result.sample_qc["pass"].mean()  # doctest: +SKIP
    0.94
    """
    from genomlab.workspace.io import read_source

    timings: dict[str, float] = {}
    work = out_dir / "work"
    with _timed(timings, "read input (VCF → MatrixTable once)", progress):
        mt, info = read_source(hl, vcf=vcf, release=release, samples=samples, work_dir=work,
                               n_partitions=n_partitions, config=config, user=user)
    result = compute_cohort_qc(hl, mt, info, work, thresholds=thresholds, progress=progress)
    with _timed(timings, "write tables and plots", progress):
        write_qc_outputs(result, out_dir, thresholds=thresholds)
    result.timings = {**timings, **result.timings}
    return result


def read_qc_genotypes(out_dir: Path) -> GenotypeMatrix:
    """The genotype-filtered calls a QC run exported (``out_dir/work/qc_calls.bed``).

    Examples
    --------
    >>> import tempfile
    >>> read_qc_genotypes(Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    genomlab.errors.NotFoundError: .../work/qc_calls.bed: no QC export; run ...
    """
    from genomlab.errors import NotFoundError
    from genomlab.workspace.io import read_bed

    prefix = out_dir / "work" / "qc_calls"
    if not prefix.with_suffix(".bed").exists():
        raise NotFoundError(f"{prefix}.bed: no QC export; run `genomlab workspace qc run` first")
    return read_bed(prefix)
