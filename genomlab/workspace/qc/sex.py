"""Genetic sex from chrX homozygosity, checked against the reported sex.

The same F statistic as Hail's ``impute_sex`` and PLINK's ``--check-sex``: on non-PAR chrX
variants, F = (O(HOM) − E(HOM)) / (N − E(HOM)) with E from the cohort's allele frequency.
That frequency is taken over all samples with every call counted as diploid (a male's haploid
call as homozygous), as ``impute_sex`` on diploidised calls: sex is what is being checked, so
it cannot weight the frequency. PLINK 1.9 by default counts founders only and males once
(by reported sex); with the same frequencies (``--read-freq``) its F is ours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.sample_qc import compute_inbreeding_f, finish_inbreeding_f


def compute_sex_check(gm: GenotypeMatrix, reported_sex: pd.Series, *,
                      female_threshold: float = 0.2, male_threshold: float = 0.8,
                      aaf_threshold: float = 0.0) -> pd.DataFrame:
    """``x_f_stat``, ``genetic_sex`` (male/female/undetermined) and ``sex_mismatch`` per sample.

    Thresholds are Hail's ``impute_sex`` defaults, the same as PLINK ``--check-sex``
    (F < 0.2 female, F > 0.8 male). ``aaf_threshold`` drops rarer chrX variants (gnomAD uses
    0.001). A sample with unknown reported sex or undetermined genetic sex is no mismatch.

    Examples
    --------
    >>> from genomlab.workspace.io import GenotypeMatrix
    >>> rng = np.random.default_rng(0)
    >>> females = rng.binomial(2, 0.4, (200, 3))  # two X copies: heterozygous calls
    >>> males = 2 * rng.binomial(1, 0.4, (200, 2))  # one X: never heterozygous
    >>> gm = GenotypeMatrix.from_counts(np.hstack([females, males]), contig="chrX")
    >>> reported = pd.Series(["female", "female", "female", "male", "female"], index=gm.samples)
    >>> check = compute_sex_check(gm, reported)
    >>> check["genetic_sex"].tolist(), check.index[check["sex_mismatch"]].tolist()
    (['female', 'female', 'female', 'male', 'male'], ['S00005'])
    """
    return call_genetic_sex(count_x_homozygosity(gm, aaf_threshold=aaf_threshold), reported_sex,
                            female_threshold=female_threshold, male_threshold=male_threshold)


def count_x_homozygosity(gm: GenotypeMatrix, *, aaf_threshold: float = 0.0) -> pd.DataFrame:
    """Per sample, observed/expected homozygous counts on non-PAR chrX (``o_hom``, ``e_hom``,
    ``n_het_sites``): sums over variants, so blocks of variants add up."""
    x = gm.subset(rows=gm.is_x_nonpar)
    vc = x.n_alt
    called = vc >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(vc >= 0, vc, 0).sum(axis=1) / (2 * called.sum(axis=1))
    af = np.where((af > aaf_threshold) & (af < 1 - aaf_threshold), af, np.nan)
    return compute_inbreeding_f(x, af=af)[["o_hom", "e_hom", "n_het_sites"]]


def call_genetic_sex(x_totals: pd.DataFrame, reported_sex: pd.Series, *,
                     female_threshold: float = 0.2, male_threshold: float = 0.8) -> pd.DataFrame:
    """:func:`compute_sex_check`'s table from (summed) :func:`count_x_homozygosity` totals."""
    f = finish_inbreeding_f(x_totals)["f_het"]
    genetic = np.select([f < female_threshold, f > male_threshold], ["female", "male"],
                        "undetermined")
    table = pd.DataFrame({"x_f_stat": f.to_numpy(), "genetic_sex": genetic},
                         index=pd.Index(x_totals.index, name="s"))
    reported = reported_sex.reindex(table.index)
    table["reported_sex"] = reported
    determined = table["genetic_sex"] != "undetermined"
    table["sex_mismatch"] = determined & reported.notna() & (reported != table["genetic_sex"])
    return table
