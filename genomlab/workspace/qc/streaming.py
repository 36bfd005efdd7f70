"""The passes of cohort QC over a PLINK ``.bed`` in blocks of variants, as plink2 streams a
``.pgen``: the driver holds one block (samples × block size) and sums, never the cohort.

- :func:`run_sample_pass`: per-sample totals (``sample_qc`` counts, ``--het`` and chrX
  homozygosity) and Mendel errors per trio, all sums over variants;
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
from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.relatedness import compute_mendel_errors
from genomlab.workspace.qc.sample_qc import count_sample_totals
from genomlab.workspace.qc.sex import count_x_homozygosity

_TRIO = ["child", "father", "mother"]


@dataclass(frozen=True)
class SampleTotals:
    """Sums of one pass: ``samples`` (``count_sample_totals``), ``x_homozygosity``
    (``count_x_homozygosity``) and ``trios`` (``compute_mendel_errors``)."""

    samples: pd.DataFrame
    x_homozygosity: pd.DataFrame
    trios: pd.DataFrame


def run_sample_pass(bed: BedFile, info: pd.DataFrame, *,
                    max_calls: int = DEFAULT_BLOCK_CALLS) -> SampleTotals:
    """One pass over ``bed`` summing every per-sample quantity of the QC.

    Examples
    --------
    >>> totals = run_sample_pass(bed, info)  # doctest: +SKIP
    >>> finish_sample_metrics(totals.samples)["call_rate"].min()  # doctest: +SKIP
    0.97
    """
    genotyped = set(bed.samples)
    trios = info[info.index.isin(genotyped) & info["father"].isin(genotyped)
                 & info["mother"].isin(genotyped)]
    samples = x_hom = mendel = None
    for _, block in bed.iter_blocks(max_calls):
        block_samples = count_sample_totals(block)
        block_x = count_x_homozygosity(block)
        block_mendel = compute_mendel_errors(block, trios).set_index(_TRIO)[
            ["n_errors", "n_called"]]
        if samples is None:
            samples, x_hom, mendel = block_samples, block_x, block_mendel
        else:
            samples, x_hom, mendel = samples + block_samples, x_hom + block_x, \
                mendel + block_mendel
    if samples is None or x_hom is None or mendel is None:  # no variants: one empty block
        empty = GenotypeMatrix(np.zeros((0, len(bed.samples)), np.int8), bed.samples,
                               bed.variants)
        samples, x_hom = count_sample_totals(empty), count_x_homozygosity(empty)
        mendel = compute_mendel_errors(empty, trios).set_index(_TRIO)[["n_errors", "n_called"]]
    table = mendel.reset_index()
    table["error_rate"] = table["n_errors"] / table["n_called"].where(table["n_called"] > 0)
    return SampleTotals(samples, x_hom, table)


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
