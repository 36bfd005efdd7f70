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
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.hail_session import HailModule
from genomlab.leftovers import make_owned_tmp_path
from genomlab.workspace.bed import BedFile
from genomlab.workspace.io import GenotypeMatrix, export_plink_calls, get_qc_call_expr
from genomlab.workspace.qc.ancestry_step import estimate_ancestry
from genomlab.workspace.qc.filtering import (
    get_call_rate_failures,
    get_contamination_evidence,
    get_heterozygosity_failures,
    get_unrelated_mask,
    summarise_sample_flags,
)
from genomlab.workspace.qc.provenance import get_qc_provenance, write_qc_provenance
from genomlab.workspace.qc.reference import read_reference
from genomlab.workspace.qc.relatedness import (
    FIRST_DEGREE_MAX_IBS0_RATIO,
    KING_DUPLICATE,
    KING_SECOND_DEGREE,
    MAX_FALSE_RELATED_PAIRS,
    KinshipNoise,
    compute_king,
    get_kinship_noise,
    get_maximal_independent_set,
    get_mendel_failures,
    get_pedigree_failures,
    get_related_pairs,
    get_undeclared_relatives,
)
from genomlab.workspace.qc.sample_qc import compute_entry_stats, finish_sample_metrics
from genomlab.workspace.qc.sex import call_genetic_sex
from genomlab.workspace.qc.streaming import (
    RowClasses,
    count_genotypes_without,
    count_group_genotypes_streamed,
    count_variant_genotypes_streamed,
    run_sample_pass,
)
from genomlab.workspace.qc.tsv import write_tsv_table
from genomlab.workspace.qc.variant_qc import (
    annotate_variant_filters,
    compute_genotype_counts,
    compute_hwe_midp,
    compute_hwe_midp_where,
    compute_variant_metrics,
    finish_variant_metrics,
)

QC_CALLS = "qc_calls"  # the .bed of ADJ-filtered calls in the work folder


@dataclass(frozen=True)
class QcThresholds:
    """Thresholds of the pipeline, each with its source.

    - ``min_gq``/``min_dp``/``min_het_ab``: gnomAD ADJ genotype filter (20 / 10 / 0.2).
    - ``min_call_rate``: samples, Hail GWAS tutorial (0.97).
    - ``het_n_mad``: gnomAD stratified outlier filter (median ± 4 MAD per ancestry group).
    - ``min_related_kinship``: KING second degree (0.0884, Manichaikul 2010; Anderson 2010);
      undeclared relatives must also clear the kinship that unrelated pairs reach by chance
      (``relatedness.get_kinship_noise``: median + z·SD of the pairs within ancestry groups, z
      the normal quantile of ``related_max_false_pairs`` 0.05 expected false pairs over all
      pairs, a Bonferroni bound; genomlab's choice), which matters with few variants; or be
      above KING's first-degree bound 0.177 with an IBS0 below
      ``first_degree_max_ibs0_ratio`` 2^-1.5 of unrelated pairs' (parent–offspring ≈ 0, full
      siblings ≈ 1/4; Manichaikul 2010) and below their chance level (median − z·SD). See
      ``relatedness.get_undeclared_relatives``.
    - ``max_mendel_error_rate``: PLINK ``--me 0.05`` per trio.
    - ``qc_min_variant_call_rate`` 0.99, ``qc_min_af`` 0.001 and ``qc_min_p_hwe`` 1e-8: gnomAD
      ``get_qc_mt``; ``qc_max_variants`` thins the QC set evenly (a stand-in for LD pruning).
    - ``variant_min_call_rate`` 0.95 / ``variant_min_p_hwe`` 1e-6: see ``annotate_variant_filters``.
    - Ancestry (``ancestry_step.estimate_ancestry``): ``ancestry_min_prob`` 0.75 (gnomAD v3.1/v4
      ``--min-pop-prob``) with a reference; without one the cohort-only fallback needs
      ``ancestry_min_samples`` 50 unrelated samples (else "not assessable"), flags k-means groups
      smaller than max(``min_group_size``, ``ancestry_small_group_share`` 5 % of the cohort)
      and flags nobody if that would exceed ``ancestry_max_outlier_share`` 10 % (genomlab's
      choices, so a small cohort is never failed wholesale); ``ancestry_n_mad`` 6 (distance
      rule of both paths).
    - ``max_contamination`` 0.015: gnomAD v4 hard filter on the read-based estimate.
    """

    min_gq: int | None = 20
    min_dp: int | None = 10
    min_het_ab: float | None = 0.2
    min_call_rate: float = 0.97
    het_n_mad: float = 4.0
    min_related_kinship: float = KING_SECOND_DEGREE
    related_max_false_pairs: float = MAX_FALSE_RELATED_PAIRS
    first_degree_max_ibs0_ratio: float = FIRST_DEGREE_MAX_IBS0_RATIO
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
    ancestry_min_prob: float = 0.75
    ancestry_min_samples: int = 50
    ancestry_small_group_share: float = 0.05
    ancestry_max_outlier_share: float = 0.10
    max_contamination: float = 0.015


@dataclass
class QcResult:
    """Tables of one QC run; ``timings`` holds seconds per step, ``provenance`` what was used
    (thresholds, ancestry method and reference, software versions)."""

    sample_qc: pd.DataFrame
    variant_qc: pd.DataFrame
    relatedness: pd.DataFrame
    pca_scores: pd.DataFrame
    trios: pd.DataFrame
    pedigree: pd.DataFrame
    eigenvalues: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


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
    return thin_evenly(get_qc_variant_candidates(gm, samples_ok, thresholds),
                       thresholds.qc_max_variants)


def get_qc_variant_candidates(gm: GenotypeMatrix, samples_ok: np.ndarray,
                              thresholds: QcThresholds) -> np.ndarray:
    """:func:`get_qc_variant_mask` before thinning: a decision per variant, so it can be
    taken block by block."""
    return get_qc_variant_candidates_from_counts(
        compute_genotype_counts(gm.n_alt[:, samples_ok], axis=1), gm.variants, gm.is_autosomal,
        int(samples_ok.sum()), thresholds)


def get_qc_variant_candidates_from_counts(counts: dict[str, np.ndarray],
                                          variants: pd.DataFrame, autosomal: np.ndarray,
                                          n_ok: int, thresholds: QcThresholds) -> np.ndarray:
    """:func:`get_qc_variant_candidates` from the genotype counts (``compute_genotype_counts``
    layout) of the ``n_ok`` samples passing the call-rate filter."""
    n_ok = max(n_ok, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        af = (counts["n_het"] + 2 * counts["n_hom_var"]) / (2 * counts["n_called"])
    snv = (variants["ref"].str.len() == 1) & (variants["alt"].str.len() == 1)
    mask = (autosomal & snv.to_numpy(dtype=bool)
            & (counts["n_called"] / n_ok > thresholds.qc_min_variant_call_rate)
            & (np.minimum(af, 1 - af) > thresholds.qc_min_af))
    idx = np.flatnonzero(mask)
    hwe = compute_hwe_midp(counts["n_hom_ref"][idx], counts["n_het"][idx],
                           counts["n_hom_var"][idx])
    out = np.zeros(len(mask), dtype=bool)
    out[idx[hwe > thresholds.qc_min_p_hwe]] = True
    return out


def thin_evenly(mask: np.ndarray, max_variants: int) -> np.ndarray:
    """``mask`` with at most ``max_variants`` of its selected variants, evenly spaced.

    Examples
    --------
    >>> thin_evenly(np.array([True, True, False, True, True]), 2).tolist()
    [True, False, False, False, True]
    """
    idx = np.flatnonzero(mask)
    if len(idx) > max_variants:
        idx = idx[np.linspace(0, len(idx) - 1, max_variants).astype(int)]
    out = np.zeros(len(mask), dtype=bool)
    out[idx] = True
    return out


def compute_cohort_qc(hl: HailModule, mt: Any, info: pd.DataFrame, work_dir: Path, *,
                      thresholds: QcThresholds | None = None, reference: Path | None = None,
                      progress: Callable[[str], None] | None = None) -> QcResult:
    """Run sample and variant QC on ``mt`` (columns keyed by ``s``) with sample table ``info``.

    Parameters
    ----------
    info:
        Indexed by ``s``; ``reported_sex``, ``family``, ``father``, ``mother`` (see ``io``).
    work_dir:
        Scratch for the exported ``.bed``.
    reference:
        A labelled ancestry reference (see ``reference.read_reference``); None: cohort-only.

    Examples
    --------
    >>> result = compute_cohort_qc(hl, mt, info, Path("work"))  # doctest: +SKIP
    >>> result.sample_qc[["pass", "reasons"]].head()  # doctest: +SKIP
    """
    t = thresholds or QcThresholds()
    timings: dict[str, float] = {}
    with _timed(timings, "export genotypes (Hail pass 1)", progress):
        call = get_qc_call_expr(hl, mt, min_gq=t.min_gq, min_dp=t.min_dp, min_het_ab=t.min_het_ab)
        prefix = export_plink_calls(hl, mt, call, work_dir / QC_CALLS)
        crashpoint("qc.exported")
    with _timed(timings, "DP/GQ stats (Hail pass 2)", progress):
        entry_stats = compute_entry_stats(hl, mt, call)
    result = compute_qc_from_bed(BedFile.open(prefix), entry_stats, info, thresholds=t,
                                 reference=reference, progress=progress)
    result.timings = {**timings, **result.timings}
    return result


def compute_qc_from_bed(bed: BedFile, entry_stats: pd.DataFrame, info: pd.DataFrame, *,
                        thresholds: QcThresholds | None = None, reference: Path | None = None,
                        progress: Callable[[str], None] | None = None) -> QcResult:
    """Sample and variant QC of the ADJ-filtered calls in ``bed``, streamed in blocks.

    Parameters
    ----------
    entry_stats:
        Per-sample statistics of the entry fields (``compute_entry_stats`` or
        ``convert_vcf_to_bed``), indexed by ``s``.
    info:
        Indexed by ``s``; ``reported_sex``, ``family``, ``father``, ``mother`` (see ``io``).

    Three passes over ``bed`` (sample totals; QC-variant selection; variant metrics) and one
    read of the QC variants: peak memory follows samples × ``qc_max_variants``.
    """
    t = thresholds or QcThresholds()
    timings: dict[str, float] = {}
    info = info.reindex(pd.Index(bed.samples, name="s"))
    samples = bed.samples

    with _timed(timings, "sample metrics (pass over the .bed)", progress):
        totals = run_sample_pass(bed, info)
        metrics = finish_sample_metrics(totals.samples).join(entry_stats)
        if "n_raw_called" not in metrics.columns:  # no entry fields: no call was filtered
            metrics["n_raw_called"], metrics["n_filtered"] = metrics["n_called"], 0
        metrics["raw_call_rate"] = metrics["n_raw_called"] / max(bed.n_variants, 1)
        flags = pd.DataFrame(index=metrics.index)
        flags["call_rate"] = get_call_rate_failures(metrics["raw_call_rate"],
                                                    min_call_rate=t.min_call_rate)
        sex = call_genetic_sex(totals.x_homozygosity, info["reported_sex"])
        flags["sex_mismatch"] = sex["sex_mismatch"]

    with _timed(timings, "KING kinship", progress):
        samples_ok = ~flags["call_rate"].to_numpy()
        ok_counts = (count_genotypes_without(bed, totals.variant_counts, ~samples_ok)
                     if totals.variant_counts is not None
                     else count_variant_genotypes_streamed(bed, samples_ok))
        candidates = get_qc_variant_candidates_from_counts(
            ok_counts, bed.variants, RowClasses.of(bed).autosomal, int(samples_ok.sum()), t)
        qc_gm = bed.read_rows(thin_evenly(candidates, t.qc_max_variants))
        kinship, ibs0 = compute_king(qc_gm)
        kin = pd.DataFrame(kinship, index=samples, columns=samples)
        pairs = get_related_pairs(kinship, ibs0, samples, info["family"])

    with _timed(timings, "ancestry PCA", progress):
        close = pairs[pairs["kinship"] > t.min_related_kinship]
        drop = get_maximal_independent_set(
            samples, list(zip(close["i"], close["j"], strict=True)), metrics["call_rate"])
        drop |= set(metrics.index[flags["call_rate"]])
        ref = None if reference is None else read_reference(reference, k=t.n_pcs)
        # Hard-filtered samples (call rate, read-based contamination) are not judged for
        # ancestry, as in gnomAD: their missing or foreign calls move them in PC space.
        hard = flags["call_rate"] | get_contamination_evidence(
            metrics, max_contamination=t.max_contamination)
        # Only the reference's variants are read for the projection (bounded by the panel);
        # the cohort-only fallback works on the QC variants.
        at_reference = (qc_gm if ref is None else
                        bed.read_rows(bed.variants["variant"].isin(ref.variants).to_numpy()))
        ancestry = estimate_ancestry(
            at_reference, qc_gm, get_unrelated_mask(samples, drop), ref,
            n_pcs=t.n_pcs, min_prob=t.ancestry_min_prob, min_samples=t.ancestry_min_samples,
            min_group_size=t.min_group_size, small_group_share=t.ancestry_small_group_share,
            n_mad=t.ancestry_n_mad, max_outlier_share=t.ancestry_max_outlier_share,
            judged=~hard.to_numpy())
        scores, eigenvalues, groups = ancestry.scores, ancestry.eigenvalues, ancestry.groups
        flags["ancestry_outlier"] = ancestry.outliers

    with _timed(timings, "outliers, relatedness, pedigree", progress):
        flags["heterozygosity"] = get_heterozygosity_failures(
            metrics, groups, n_mad=t.het_n_mad, max_contamination=t.max_contamination)
        noise = get_kinship_noise(kinship, ibs0, groups.reindex(samples).to_numpy(),
                                  max_false_pairs=t.related_max_false_pairs)
        pairs = _annotate_findings(pairs, flags, noise, t)
        for finding, reason in (("duplicate", "duplicate"), ("undeclared", "relatedness")):
            found = pairs[pairs["finding"] == finding]
            removed = get_maximal_independent_set(
                samples, list(zip(found["i"], found["j"], strict=True)), metrics["call_rate"])
            flags[reason] = metrics.index.isin(sorted(removed))
        trios = totals.trios
        mendel = get_mendel_failures(trios, kin, max_error_rate=t.max_mendel_error_rate)
        flags["mendel"] = metrics.index.isin(sorted(mendel))
        pedigree, unrelated_children = get_pedigree_failures(info, kin, trios)
        flags["relatedness"] |= metrics.index.isin(sorted(unrelated_children))

    with _timed(timings, "variant metrics (pass over the .bed)", progress):
        passing = summarise_sample_flags(flags)["pass"].to_numpy()
        males = (sex["genetic_sex"] == "male").to_numpy()
        group_labels = groups.reindex(samples).to_numpy()
        variant_qc = annotate_variant_filters(
            compute_variant_table_streamed(bed, passing, males, group_labels,
                                           min_group_size=t.min_group_size),
            min_call_rate=t.variant_min_call_rate, min_p_value_hwe=t.variant_min_p_hwe)

    sample_qc = summarise_sample_flags(flags).join(metrics).join(
        sex[["x_f_stat", "genetic_sex", "reported_sex"]]).join(groups)
    sample_qc.insert(0, "sample", sample_qc.index)
    scores = scores.join(groups)
    provenance = get_qc_provenance(t, ancestry.provenance)
    provenance["relatedness"] = {
        "unrelated_kinship_median": noise.median, "unrelated_kinship_sd": noise.sd,
        "z": noise.z, "n_pairs": noise.n_pairs,
        "min_undeclared_kinship": max(t.min_related_kinship, noise.threshold),
        "unrelated_ibs0_median": noise.ibs0_median,
        "max_first_degree_ibs0": min(t.first_degree_max_ibs0_ratio * noise.ibs0_median,
                                     noise.ibs0_threshold)}
    return QcResult(sample_qc.reset_index(drop=True), variant_qc, pairs,
                    scores.rename_axis("sample").reset_index(), trios, pedigree, eigenvalues,
                    timings, provenance)


def compute_variant_table_streamed(bed: BedFile, passing: np.ndarray, males: np.ndarray,
                                   groups: np.ndarray, *, min_group_size: int = 10
                                   ) -> pd.DataFrame:
    """``compute_variant_metrics`` of the ``passing`` samples plus ``p_value_hwe_min_group``
    (:func:`compute_group_hwe_min`) for every variant of ``bed``: one streamed pass of
    genotype counts, then one HWE computation per sample set."""
    sets = {"": passing}
    for label in _get_hwe_groups(groups, passing, min_group_size=min_group_size):
        sets[f"group:{label}"] = passing & (groups == label)
    counts = count_group_genotypes_streamed(bed, sets, males=males,
                                            hwe_only=frozenset(sets) - {""})
    table = finish_variant_metrics(bed.variants, counts.pop(""))
    out = np.full(bed.n_variants, np.nan)
    for group_counts in counts.values():
        out = np.fmin(out, compute_hwe_midp_where(group_counts))
    table["p_value_hwe_min_group"] = out
    return table


def _get_hwe_groups(groups: np.ndarray, passing: np.ndarray, *,
                    min_group_size: int) -> list[Any]:
    """Ancestry groups tested for HWE: assigned, at least ``min_group_size`` passing samples."""
    return [label for label in np.unique(groups[passing])
            if label != "unassigned" and (passing & (groups == label)).sum() >= min_group_size]


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
    for label in _get_hwe_groups(groups, passing, min_group_size=min_group_size):
        members = passing & (groups == label)
        p = compute_variant_metrics(gm.subset(cols=members), males=males[members])["p_value_hwe"]
        out = np.fmin(out, p.to_numpy())
    return out


def _annotate_findings(pairs: pd.DataFrame, flags: pd.DataFrame, noise: KinshipNoise,
                       t: QcThresholds) -> pd.DataFrame:
    """``finding`` per pair: duplicate, undeclared (relative), declared, or '' when not related
    (:func:`~genomlab.workspace.qc.relatedness.get_undeclared_relatives`: KING's bounds, the
    chance level of unrelated pairs and IBS0).

    Pairs with a heterozygosity outlier are not judged: contamination biases KING.
    """
    judged = ~(pairs["i"].map(flags["heterozygosity"]) | pairs["j"].map(flags["heterozygosity"]))
    related = get_undeclared_relatives(
        pairs, noise, min_kinship=t.min_related_kinship,
        first_degree_max_ibs0_ratio=t.first_degree_max_ibs0_ratio)
    finding = np.select(
        [~judged, pairs["kinship"] > KING_DUPLICATE, pairs["declared"], related],
        ["", "duplicate", "declared", "undeclared"], "")
    return pairs.assign(finding=finding)


QC_TABLES = ("sample_qc.tsv", "variant_qc.tsv", "relatedness.tsv", "pca_scores.tsv",
             "mendel.tsv", "pedigree.tsv")
QC_PLOTS = ("call_rate.png", "heterozygosity.png", "pca.png", "kinship.png")


def _write_tsv(table: pd.DataFrame, path: Path) -> Path:
    tmp = make_owned_tmp_path(path)
    try:
        write_tsv_table(table, tmp)
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
    written.append(write_qc_provenance(result.provenance, out_dir))
    return written


def _recorded_path(path: Path, config: GenomlabConfig | None) -> str:
    """``path`` as the provenance records it: relative to the home when inside it (a moved home
    stays consistent), else absolute."""
    from genomlab.home import get_home_relative

    if config is None:
        return str(path)
    return get_home_relative(config.home, Path(path).absolute())


def run_cohort_qc(hl: HailModule | Callable[[], HailModule], out_dir: Path, *,
                  vcf: Path | None = None,
                  release: Path | None = None, samples: Path | None = None,
                  thresholds: QcThresholds | None = None, reference: Path | None = None,
                  n_partitions: int | None = None,
                  progress: Callable[[str], None] | None = None,
                  engine: str = "auto", config: GenomlabConfig | None = None,
                  user: str | None = None, spark_master: str | None = None) -> QcResult:
    """VCF (or release) in, QC tables and plots in ``out_dir`` out.

    ``hl`` is the started ``hail`` module, or a function that starts it (e.g.
    ``lambda: init_hail(config)``) together with ``spark_master``, the master it starts: then
    Spark starts only when Hail is needed (not for a VCF streamed on a local master), and its
    start-up is reported apart in ``timings`` ("Hail start-up").

    ``engine`` decides how the genotypes reach the ``.bed`` the QC streams over:

    - ``"auto"``: a VCF on a local Spark master is converted without Hail
      (:func:`~genomlab.workspace.vcf_bed.convert_vcf_to_bed`: bcftools and numpy, streamed,
      no MatrixTable); a release, a cluster master (the passes run on its executors) or a VCF
      with multi-allelic sites (Hail splits them) go through Hail;
    - ``"hail"``: always Hail; ``"stream"``: always the converter (multi-allelic sites fail).

    The converted MatrixTable and the exported ``.bed`` stay in ``out_dir/work``.

    A release is read only after the entitlement check of ``open_release`` for ``user`` (default
    the current user) in ``config``'s home (default the environment's configuration).

    Examples
    --------
    >>> result = run_cohort_qc(hl, Path("qc"), vcf=Path("cohort.vcf.bgz"))  # doctest: +SKIP
    >>> result.sample_qc["pass"].mean()  # doctest: +SKIP
    0.94
    """
    from genomlab.workspace.io import check_release_access, read_source

    if engine not in ("auto", "hail", "stream"):
        raise ValueError(f"engine must be auto, hail or stream, not {engine!r}")
    t = thresholds or QcThresholds()
    timings: dict[str, float] = {}
    work = out_dir / "work"
    if release is not None:  # before Spark is touched: a refused user starts nothing
        check_release_access(release, config=config, user=user)
    module: HailModule | None = None
    if callable(hl) and not isinstance(hl, ModuleType):  # a starter: Spark not started yet
        if spark_master is None:
            raise ValueError("spark_master is needed when hl is a function that starts Hail")
        master = spark_master
    else:
        module = hl
        master = str(hl.spark_context().master)
    result = None
    used = "stream"
    if vcf is not None and (engine == "stream" or (engine == "auto"
                                                   and master.startswith("local"))):
        result = _run_streamed_qc(vcf, samples, work, t, timings, progress,
                                  fall_back=engine == "auto", reference=reference)
    if result is None:
        used = "hail"
        if module is None:
            with _timed(timings, "Hail start-up", progress):
                module = hl()  # type: ignore[operator]
        with _timed(timings, "read input (VCF → MatrixTable once)", progress):
            mt, info = read_source(module, vcf=vcf, release=release, samples=samples,
                                   work_dir=work, n_partitions=n_partitions, config=config,
                                   user=user)
        result = compute_cohort_qc(module, mt, info, work, thresholds=t, reference=reference,
                                   progress=progress)
    with _timed(timings, "write tables and plots", progress):
        result.provenance.update(
            engine=used, spark_master=master,
            inputs={name: None if path is None else _recorded_path(path, config)
                    for name, path in (("vcf", vcf), ("release", release), ("samples", samples))})
        write_qc_outputs(result, out_dir, thresholds=t)
    result.timings = {**timings, **result.timings}
    return result


def _run_streamed_qc(vcf: Path, samples: Path | None, work: Path, t: QcThresholds,
                     timings: dict[str, float], progress: Callable[[str], None] | None, *,
                     fall_back: bool, reference: Path | None = None) -> QcResult | None:
    """QC of ``vcf`` through :func:`convert_vcf_to_bed`; ``None`` (the caller takes Hail) at
    a multi-allelic site when ``fall_back``."""
    from genomlab.workspace.io import align_sample_info, read_sample_info
    from genomlab.workspace.vcf_bed import AdjFilter, MultiallelicSite, convert_vcf_to_bed

    info = read_sample_info(vcf=vcf, samples=samples)
    with _timed(timings, "read VCF → .bed (bcftools + numpy, streamed)", progress):
        try:
            entry_stats = convert_vcf_to_bed(vcf, work / QC_CALLS, adj=AdjFilter(
                min_gq=t.min_gq, min_dp=t.min_dp, min_het_ab=t.min_het_ab))
        except MultiallelicSite:
            if not fall_back:
                raise
            return None
    bed = BedFile.open(work / QC_CALLS)
    return compute_qc_from_bed(bed, entry_stats, align_sample_info(info, bed.samples, vcf),
                               thresholds=t, reference=reference, progress=progress)


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

    prefix = out_dir / "work" / QC_CALLS
    if not prefix.with_suffix(".bed").exists():
        raise NotFoundError(f"{prefix}.bed: no QC export; run `genomlab workspace qc run` first")
    return read_bed(prefix)
