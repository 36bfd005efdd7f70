"""Sample filters: hard thresholds and outliers per ancestry group by median ± k·MAD."""

from __future__ import annotations

import numpy as np
import pandas as pd

# The reasons a sample can fail, in the order they are listed in ``sample_qc.tsv``.
SAMPLE_REASONS = ("call_rate", "heterozygosity", "sex_mismatch", "duplicate", "relatedness",
                  "mendel", "ancestry_outlier")


def get_stratified_outliers(values: pd.Series, strata: pd.Series, *, lower_mad: float = 4.0,
                            upper_mad: float = 4.0) -> pd.Series:
    """True where a value lies outside median ± k·MAD of its stratum.

    Defaults are gnomAD's ``compute_stratified_metrics_filter`` (k = 4 on both sides); pass
    ``np.inf`` for a one-sided filter. The MAD is scaled by 1.4826 (consistent for a normal
    distribution), as gnomAD does.

    Examples
    --------
    >>> v = pd.Series([1.0, 1.1, 0.9, 1.0, 5.0])
    >>> get_stratified_outliers(v, pd.Series(["a"] * 5)).tolist()
    [False, False, False, False, True]
    """
    out = pd.Series(False, index=values.index, name=values.name)
    for _, idx in strata.groupby(strata).groups.items():
        v = values.loc[idx]
        median = v.median()
        mad = 1.4826 * (v - median).abs().median()
        low = -np.inf if np.isinf(lower_mad) else median - lower_mad * mad  # inf·0 is undefined
        high = np.inf if np.isinf(upper_mad) else median + upper_mad * mad
        out.loc[idx] = ((v < low) | (v > high)) & v.notna()
    return out


def summarise_sample_flags(flags: pd.DataFrame) -> pd.DataFrame:
    """``pass`` and ``reasons`` (semicolon list in :data:`SAMPLE_REASONS` order) from flag columns.

    Examples
    --------
    >>> f = pd.DataFrame({"call_rate": [True, False], "mendel": [True, False]}, index=["a", "b"])
    >>> summarise_sample_flags(f)["reasons"].tolist()
    ['call_rate;mendel', '']
    """
    columns = [r for r in SAMPLE_REASONS if r in flags.columns]
    failed = flags[columns].fillna(False).astype(bool)
    return pd.DataFrame({"pass": ~failed.any(axis=1), "reasons": get_reasons(failed)},
                        index=flags.index)


def get_reasons(failed: pd.DataFrame) -> pd.Series:
    """Per row, the names of the True columns joined by ``;`` in column order (vectorised).

    Examples
    --------
    >>> get_reasons(pd.DataFrame({"hwe": [True, False], "af": [True, True]})).tolist()
    ['hwe;af', 'af']
    """
    joined = pd.Series("", index=failed.index)
    for name in failed.columns:
        hit = failed[name].to_numpy(dtype=bool)
        joined = joined.where(~hit, joined + np.where(joined == "", "", ";") + name)
    return joined


def get_call_rate_failures(call_rate: pd.Series, *, min_call_rate: float = 0.97) -> pd.Series:
    """True below ``min_call_rate`` (0.97: Hail GWAS tutorial; Anderson 2010: 0.95–0.98)."""
    return (call_rate < min_call_rate) | call_rate.isna()


def get_heterozygosity_failures(metrics: pd.DataFrame, groups: pd.Series, *,
                                n_mad: float = 4.0,
                                columns: tuple[str, ...] = ("heterozygosity_rate", "f_het"),
                                max_contamination: float = 0.015,
                                min_het_low_ab_fraction: float = 0.02) -> pd.Series:
    """Heterozygosity failures (contamination, inbreeding).

    A sample fails if any of ``columns`` lies outside median ± ``n_mad``·MAD within its
    ancestry group (gnomAD stratified filter, k = 4), or if its read-based ``contamination``
    estimate exceeds ``max_contamination`` (gnomAD v4 hard filter, 0.015), or if its share of
    allele-imbalanced het calls (``het_low_ab_fraction``) is an upper outlier of its group and
    above ``min_het_low_ab_fraction`` (a floor, genomlab's choice, since clean samples sit at
    ~0 with MAD 0): contamination shows as spurious, imbalanced heterozygous calls. Samples of
    group ``unassigned`` (ancestry outliers) have no reference group and are judged on the
    read-based measures only.

    Examples
    --------
    S00007 is too heterozygous for its group, S00012's reads are contaminated:

    >>> rng = np.random.default_rng(0)
    >>> metrics = pd.DataFrame({"heterozygosity_rate": rng.normal(0.30, 0.005, 30),
    ...                         "f_het": rng.normal(0, 0.01, 30), "contamination": 0.001},
    ...                        index=[f"S{i:05d}" for i in range(1, 31)])
    >>> metrics.loc["S00007", "heterozygosity_rate"] = 0.40
    >>> metrics.loc["S00012", "contamination"] = 0.05
    >>> failed = get_heterozygosity_failures(metrics, pd.Series("G1", index=metrics.index))
    >>> failed[failed].index.tolist()
    ['S00007', 'S00012']
    """
    assigned = groups[groups != "unassigned"]
    flags = [get_stratified_outliers(metrics.loc[assigned.index, c], assigned, lower_mad=n_mad,
                                     upper_mad=n_mad) for c in columns if c in metrics.columns]
    out = pd.Series(False, index=groups.index)
    if flags:
        out.loc[assigned.index] = pd.concat(flags, axis=1).any(axis=1)
    if "contamination" in metrics.columns:
        out |= (metrics["contamination"] > max_contamination).reindex(out.index, fill_value=False)
    if "het_low_ab_fraction" in metrics.columns:
        imbalance = metrics["het_low_ab_fraction"].reindex(out.index)
        upper = get_stratified_outliers(imbalance, groups, lower_mad=np.inf, upper_mad=n_mad)
        out |= upper & (imbalance > min_het_low_ab_fraction)
    return out


def get_contamination_evidence(metrics: pd.DataFrame, *, max_contamination: float = 0.015,
                               min_het_low_ab_fraction: float = 0.02) -> pd.Series:
    """True where the reads suggest contamination whatever the ancestry: the read-based
    ``contamination`` estimate above ``max_contamination`` (gnomAD v4 hard filter) or a share of
    allele-imbalanced het calls (``het_low_ab_fraction``) above ``min_het_low_ab_fraction``
    (clean samples sit at ~0). Such samples are not judged for ancestry: gnomAD hard-filters
    contamination before inferring ancestry, and foreign reads move a sample in PC space.

    Examples
    --------
    >>> m = pd.DataFrame({"contamination": [0.0, 0.05, 0.0], "het_low_ab_fraction": [0, 0, 0.08]})
    >>> get_contamination_evidence(m).tolist()
    [False, True, True]
    """
    evidence = pd.Series(False, index=metrics.index)
    if "contamination" in metrics.columns:
        evidence |= metrics["contamination"] > max_contamination
    if "het_low_ab_fraction" in metrics.columns:
        evidence |= metrics["het_low_ab_fraction"] > min_het_low_ab_fraction
    return evidence


def get_unrelated_mask(samples: list[str], removed: set[str]) -> np.ndarray:
    """Boolean mask of samples not in ``removed``."""
    return np.array([s not in removed for s in samples])
