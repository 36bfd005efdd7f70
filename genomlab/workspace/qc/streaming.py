"""The passes of cohort QC over a PLINK ``.bed`` in blocks of variants, as plink2 streams a
``.pgen``: the driver holds one block (samples × block size) and sums, never the cohort.

- :func:`run_sample_pass`: per-sample totals (``sample_qc`` counts, ``--het`` and chrX
  homozygosity) and Mendel errors per trio, all sums over variants;
- :func:`count_group_genotypes_streamed`: per-variant genotype counts of sample sets (the
  passing samples, each ancestry group), for the variant metrics and HWE computed once after
  the pass;
- :func:`select_rows`: a per-variant mask (e.g. QC-variant candidates) block by block;
- :func:`concat_rows`: per-variant tables (variant metrics) block by block.

Only the QC-variant subset for KING and the PCA is read whole (``BedFile.read_rows``), so peak
memory follows samples × ``qc_max_variants`` and not the number of variants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genomlab.workspace.bed import DEFAULT_BLOCK_CALLS, BedFile
from genomlab.workspace.io import GenotypeMatrix, decode_bed_rows
from genomlab.workspace.qc.packed import SampleMask, count_genotypes, decode_columns
from genomlab.workspace.qc.relatedness import compute_mendel_errors
from genomlab.workspace.qc.sample_qc import (
    count_sample_totals,
    count_sample_totals_packed,
    get_allele_types,
)
from genomlab.workspace.qc.sex import count_x_homozygosity
from genomlab.workspace.qc.variant_qc import compute_genotype_counts, count_variant_genotypes

_TRIO = ["child", "father", "mother"]


@dataclass(frozen=True)
class SampleTotals:
    """Sums of one pass: ``samples`` (``count_sample_totals``), ``x_homozygosity``
    (``count_x_homozygosity``) and ``trios`` (``compute_mendel_errors``); on the way, the
    genotype counts of every variant over all samples (``variant_counts``, int32)."""

    samples: pd.DataFrame
    x_homozygosity: pd.DataFrame
    trios: pd.DataFrame
    variant_counts: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class RowClasses:
    """Per variant of a ``.bed``: allele type, autosomal, haploid-in-males (non-PAR chrX, chrY)
    and chrY, computed once from the ``.bim`` rather than per block."""

    kinds: np.ndarray
    autosomal: np.ndarray
    haploid: np.ndarray
    on_y: np.ndarray
    x_nonpar: np.ndarray

    @classmethod
    def of(cls, bed: BedFile) -> RowClasses:
        rows = GenotypeMatrix(np.zeros((bed.n_variants, 0), np.int8), [], bed.variants)
        x_nonpar, on_y = rows.is_x_nonpar, rows.is_y
        return cls(get_allele_types(bed.variants).to_numpy(), rows.is_autosomal,
                   x_nonpar | on_y, on_y, x_nonpar)


def _block(bed: BedFile, rows: slice, packed: np.ndarray,
           select: np.ndarray | None = None) -> GenotypeMatrix:
    """The decoded rows ``select`` (boolean over the block; all if None) of a packed block."""
    idx = np.arange(rows.start, rows.stop)
    if select is not None:
        packed, idx = packed[select], idx[select]
    return GenotypeMatrix(decode_bed_rows(packed, len(bed.samples)), bed.samples,
                          bed.variants.iloc[idx].reset_index(drop=True))


def run_sample_pass(bed: BedFile, info: pd.DataFrame, *,
                    max_calls: int = DEFAULT_BLOCK_CALLS) -> SampleTotals:
    """One pass over ``bed`` summing every per-sample quantity of the QC, counting the packed
    bytes (``qc.packed``); only chrX rows and the trios' columns are decoded.

    Examples
    --------
    >>> totals = run_sample_pass(bed, info)  # doctest: +SKIP
    >>> finish_sample_metrics(totals.samples)["call_rate"].min()  # doctest: +SKIP
    0.97
    """
    genotyped = set(bed.samples)
    trios = info[info.index.isin(genotyped) & info["father"].isin(genotyped)
                 & info["mother"].isin(genotyped)]
    members = sorted({bed.samples.index(s) for s in
                      (*trios.index, *trios["father"], *trios["mother"])})
    classes = RowClasses.of(bed)
    empty = GenotypeMatrix(np.zeros((0, len(bed.samples)), np.int8), bed.samples,
                           bed.variants.iloc[:0])
    samples = count_sample_totals(empty)
    x_hom = count_x_homozygosity(empty)
    mendel = compute_mendel_errors(empty, trios).set_index(_TRIO)[["n_errors", "n_called"]]
    everyone = SampleMask.of(np.ones(len(bed.samples), dtype=bool))
    variant_counts = {key: np.zeros(bed.n_variants, dtype=np.int32)
                      for key in ("n_called", "n_hom_ref", "n_het", "n_hom_var")}
    for rows, packed in bed.iter_packed(max_calls):
        block_counts = count_genotypes(packed, everyone)
        for key, values in block_counts.items():
            variant_counts[key][rows] = values
        samples = samples + count_sample_totals_packed(
            packed, classes.kinds[rows], classes.autosomal[rows], bed.samples,
            variant_counts=block_counts)
        on_x = classes.x_nonpar[rows]
        if on_x.any():
            x_hom = x_hom + count_x_homozygosity(_block(bed, rows, packed, on_x))
        auto = classes.autosomal[rows]
        if members and auto.any():
            idx = np.arange(rows.start, rows.stop)[auto]
            trio_calls = GenotypeMatrix(decode_columns(packed[auto], np.array(members)),
                                        [bed.samples[k] for k in members],
                                        bed.variants.iloc[idx].reset_index(drop=True))
            mendel = mendel + compute_mendel_errors(trio_calls, trios).set_index(_TRIO)[
                ["n_errors", "n_called"]]
    table = mendel.reset_index()
    table["error_rate"] = table["n_errors"] / table["n_called"].where(table["n_called"] > 0)
    return SampleTotals(samples, x_hom, table, variant_counts)


def count_genotypes_without(bed: BedFile, counts: dict[str, np.ndarray], left_out: np.ndarray,
                            *, max_calls: int = DEFAULT_BLOCK_CALLS) -> dict[str, np.ndarray]:
    """Genotype counts per variant (``compute_genotype_counts`` layout) of all samples but the
    ``left_out`` ones (boolean), from ``counts`` of all samples: only the left-out samples'
    columns are decoded, so a few failing samples cost a read of the file, not a count."""
    if not left_out.any():
        return counts
    columns = np.flatnonzero(left_out)
    out = {key: values.copy() for key, values in counts.items()}
    for rows, packed in bed.iter_packed(max_calls):
        removed = compute_genotype_counts(decode_columns(packed, columns), axis=1)
        for key in out:
            out[key][rows] -= removed[key].astype(out[key].dtype)
    return out


def count_variant_genotypes_streamed(bed: BedFile, kept: np.ndarray, *,
                                     males: np.ndarray | None = None,
                                     max_calls: int = DEFAULT_BLOCK_CALLS
                                     ) -> dict[str, np.ndarray]:
    """:func:`~genomlab.workspace.qc.variant_qc.count_variant_genotypes` of the samples
    ``kept`` (boolean) over every variant of ``bed``: packed byte counts, and the sex-aware
    counts of the (few) rows haploid in males decoded when ``males`` is given."""
    return count_group_genotypes_streamed(bed, {"": kept}, males=males,
                                          max_calls=max_calls)[""]


_HWE_KEYS = ("hwe_n_hom_ref", "hwe_n_het", "hwe_n_hom_var", "no_hwe")


def count_group_genotypes_streamed(bed: BedFile, groups: dict[str, np.ndarray], *,
                                   males: np.ndarray | None = None,
                                   hwe_only: frozenset[str] = frozenset(),
                                   max_calls: int = DEFAULT_BLOCK_CALLS
                                   ) -> dict[str, dict[str, np.ndarray]]:
    """:func:`count_variant_genotypes_streamed` for several sample sets in one pass; for the
    sets in ``hwe_only`` only the HWE counts (``hwe_*``, ``no_hwe``) are kept. Counts are
    int32 arrays filled in place: a few bytes per variant and set, the only part of the pass
    that grows with the variants."""
    classes = RowClasses.of(bed)
    masks = {name: SampleMask.of(kept) for name, kept in groups.items()}
    out: dict[str, dict[str, np.ndarray]] = {}
    for rows, packed in bed.iter_packed(max_calls):
        haploid = classes.haploid[rows] if males is not None else None
        decoded = (_block(bed, rows, packed, haploid)
                   if haploid is not None and haploid.any() else None)
        for name, kept in groups.items():
            counts = _as_variant_counts(count_genotypes(packed, masks[name]), int(kept.sum()))
            if decoded is not None and haploid is not None and males is not None:
                sexed = count_variant_genotypes(decoded.subset(cols=kept), males[kept])
                for key, values in sexed.items():
                    counts[key][haploid] = values
            if name in hwe_only:
                counts = {key: counts[key] for key in _HWE_KEYS}
            if name not in out:
                out[name] = {key: np.empty(bed.n_variants, dtype=bool if key == "no_hwe"
                                           else np.int32) for key in counts}
            for key, values in counts.items():
                out[name][key][rows] = values
    for name, kept in groups.items():
        if name not in out:  # no variants
            empty = GenotypeMatrix(np.zeros((0, int(kept.sum())), np.int8), [],
                                   bed.variants.iloc[:0])
            out[name] = count_variant_genotypes(empty)
    return out


def _as_variant_counts(counts: dict[str, np.ndarray], n_kept: int) -> dict[str, np.ndarray]:
    """Genotype counts in the shape of ``count_variant_genotypes`` (all rows diploid)."""
    out = {name: values.copy() for name, values in counts.items()}
    out["AC"] = counts["n_het"] + 2 * counts["n_hom_var"]
    out["AN"] = 2 * counts["n_called"]
    out["n_samples"] = np.full(len(out["AC"]), n_kept)
    for name in ("n_hom_ref", "n_het", "n_hom_var"):
        out[f"hwe_{name}"] = counts[name].copy()
    out["no_hwe"] = np.zeros(len(out["AC"]), dtype=bool)
    return out


def select_rows(bed: BedFile, select: Callable[[GenotypeMatrix], np.ndarray], *,
                max_calls: int = DEFAULT_BLOCK_CALLS) -> np.ndarray:
    """``select(block)`` (a boolean per variant of the block) over all blocks, concatenated."""
    parts = [np.asarray(select(block), dtype=bool) for _, block in bed.iter_blocks(max_calls)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def concat_rows(bed: BedFile, table: Callable[[GenotypeMatrix], pd.DataFrame], *,
                max_calls: int = DEFAULT_BLOCK_CALLS) -> pd.DataFrame:
    """``table(block)`` (one row per variant of the block) over all blocks, concatenated."""
    parts = [table(block) for _, block in bed.iter_blocks(max_calls)]
    if not parts:
        return table(GenotypeMatrix(np.zeros((0, len(bed.samples)), np.int8), bed.samples,
                                    bed.variants))
    return pd.concat(parts, ignore_index=True)
