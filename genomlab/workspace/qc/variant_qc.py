"""Per-variant QC metrics in Hail's ``variant_qc`` vocabulary, computed on the in-memory matrix.

``p_value_hwe`` is the two-sided exact test of Hardy–Weinberg equilibrium with mid-p correction
(Wigginton et al. 2005; Graffelman & Moreno 2013), as Hail's ``hardy_weinberg_test`` and plink2
``--hardy midp`` compute it: the Levene–Haldane distribution of the heterozygote count given the
allele counts, evaluated for all variants at once in log space.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.filtering import get_reasons

_TIE_TOLERANCE = 1e-7  # relative; probabilities this close to the observed one count as ties


def compute_genotype_counts(n_alt: np.ndarray, axis: int) -> dict[str, np.ndarray]:
    """``n_called``, ``n_hom_ref``, ``n_het``, ``n_hom_var`` of an int8 matrix along ``axis``.

    Examples
    --------
    >>> counts = compute_genotype_counts(np.array([[0, 1], [2, -1]], dtype=np.int8), axis=1)
    >>> counts["n_het"].tolist(), counts["n_called"].tolist()
    ([1, 0], [2, 1])
    """
    n_het = np.count_nonzero(n_alt == 1, axis=axis)
    n_hom_var = np.count_nonzero(n_alt == 2, axis=axis)
    n_called = np.count_nonzero(n_alt >= 0, axis=axis)
    return {"n_called": n_called, "n_hom_ref": n_called - n_het - n_hom_var, "n_het": n_het,
            "n_hom_var": n_hom_var}


def compute_hwe_midp(n_hom_ref: np.ndarray, n_het: np.ndarray, n_hom_var: np.ndarray,
                     *, chunk: int = 4096) -> np.ndarray:
    """Two-sided exact HWE mid-p-values, vectorised over variants.

    Examples
    --------
    >>> p = compute_hwe_midp(np.array([50]), np.array([0]), np.array([50]))
    >>> bool(p[0] < 1e-20)
    True
    """
    n_hom_ref, n_het, n_hom_var = (np.asarray(a, dtype=np.int64)
                                   for a in (n_hom_ref, n_het, n_hom_var))
    # A chunk's work is its size times its widest distribution (rare allele count / 2), so
    # variants are chunked in order of that count: rare variants do not pay for common ones.
    order = np.argsort(np.minimum(2 * n_hom_ref + n_het, 2 * n_hom_var + n_het), kind="stable")
    out = np.ones(len(n_het))
    for start in range(0, len(n_het), chunk):
        idx = order[start:start + chunk]
        out[idx] = _hwe_midp_chunk(n_hom_ref[idx], n_het[idx], n_hom_var[idx])
    return out


def _hwe_midp_chunk(hom_ref: np.ndarray, het: np.ndarray, hom_var: np.ndarray) -> np.ndarray:
    n = hom_ref + het + hom_var
    rare = np.minimum(2 * hom_ref + het, 2 * hom_var + het)
    common = 2 * n - rare
    width = int(rare.max(initial=0)) // 2 + 1
    k = np.arange(width)
    h = (rare % 2)[:, None] + 2 * k[None, :]  # possible het counts
    valid = h <= rare[:, None]
    h = np.where(valid, h, 0)
    n_rare_hom = (rare[:, None] - h) // 2
    n_common_hom = n[:, None] - h - n_rare_hom
    log_p = (gammaln(n + 1)[:, None] - gammaln(n_common_hom + 1) - gammaln(h + 1)
             - gammaln(n_rare_hom + 1) + h * np.log(2.0)
             + (gammaln(rare + 1) + gammaln(common + 1) - gammaln(2 * n + 1))[:, None])
    log_p = np.where(valid, log_p, -np.inf)
    obs_idx = (het - rare % 2) // 2
    log_obs = np.take_along_axis(log_p, obs_idx[:, None], axis=1)
    shift = log_p.max(axis=1, keepdims=True)
    prob = np.exp(log_p - shift)
    obs = np.exp(log_obs - shift)
    total = prob.sum(axis=1)
    less = np.where(prob < obs * (1 - _TIE_TOLERANCE), prob, 0).sum(axis=1)
    ties = np.where(np.abs(prob - obs) <= obs * _TIE_TOLERANCE, prob, 0).sum(axis=1)
    p = (less + 0.5 * ties) / total
    return np.where(n > 0, np.minimum(p, 1.0), 0.5)  # Hail: 0.5 without calls


def compute_variant_metrics(gm: GenotypeMatrix, males: np.ndarray | None = None) -> pd.DataFrame:
    """One row per variant: call rate, AC/AN/AF, genotype counts, HWE (Hail's names).

    With ``males`` (boolean mask of male samples) the sex chromosomes are judged by sex, as
    plink2 counts them with the sexes set, ``--split-par`` and ``--set-hh-missing``: outside
    the pseudo-autosomal regions a male's chrX call is haploid (one allele in AC/AN; a
    heterozygous call is an error and counts as missing, as PLINK 1.9 treats it, where plain
    plink2 would count half an allele); chrY counts (and call rate) among males only, haploid,
    with no HWE test (NaN); the PARs stay diploid in everyone. The chrX HWE test is among
    females only (PLINK 1.9; plink2's Graffelman–Weir test also compares the males).
    Without ``males`` every variant is treated as diploid over all samples.

    Examples
    --------
    >>> from genomlab.workspace.io import GenotypeMatrix
    >>> gm = GenotypeMatrix.from_counts([[0, 1, 2, -1], [1, 1, 0, 0], [2, 1, 0, 0]])
    >>> table = compute_variant_metrics(gm)
    >>> table[["call_rate", "AC", "AN", "AF"]].values.tolist()
    [[0.75, 3.0, 6.0, 0.5], [1.0, 2.0, 8.0, 0.25], [1.0, 3.0, 8.0, 0.375]]
    """
    counts = compute_genotype_counts(gm.n_alt, axis=1)
    ac = counts["n_het"] + 2 * counts["n_hom_var"]
    an = 2 * counts["n_called"]
    n_samples = np.full(gm.n_alt.shape[0], gm.n_alt.shape[1])
    hwe_counts = dict(counts)
    on_y = gm.is_y
    if males is not None:
        haploid = gm.is_x_nonpar | on_y
        male = compute_genotype_counts(gm.n_alt[haploid][:, males], axis=1)
        female = compute_genotype_counts(gm.n_alt[haploid][:, ~males], axis=1)
        diploid_share = (~on_y[haploid]).astype(np.int64)  # females count on chrX, not chrY
        male_called = male["n_called"] - male["n_het"]
        counts = {name: values.copy() for name, values in counts.items()}
        counts["n_called"][haploid] = diploid_share * female["n_called"] + male_called
        counts["n_het"][haploid] = diploid_share * female["n_het"]
        for name in ("n_hom_ref", "n_hom_var"):
            counts[name][haploid] = diploid_share * female[name] + male[name]
        ac[haploid] = diploid_share * (female["n_het"] + 2 * female["n_hom_var"]) \
            + male["n_hom_var"]
        an[haploid] = diploid_share * 2 * female["n_called"] + male_called
        n_samples[on_y] = int(males.sum())
        hwe_counts = {name: values.copy() for name, values in hwe_counts.items()}
        for name, values in female.items():
            hwe_counts[name][haploid] = values
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(an > 0, ac / an, np.nan)
        het_freq_hwe = 2 * af * (1 - af)
    table = gm.variants[["variant", "contig", "position", "ref", "alt"]].copy()
    table["call_rate"] = counts["n_called"] / np.maximum(n_samples, 1)
    table["n_called"] = counts["n_called"]
    table["n_not_called"] = n_samples - counts["n_called"]
    table["AC"], table["AN"], table["AF"] = ac, an, af
    for name in ("n_hom_ref", "n_het", "n_hom_var"):
        table[name] = counts[name]
    table["het_freq_hwe"] = het_freq_hwe
    table["p_value_hwe"] = compute_hwe_midp(hwe_counts["n_hom_ref"], hwe_counts["n_het"],
                                            hwe_counts["n_hom_var"])
    if males is not None:  # haploid: no HWE test
        table.loc[on_y, "p_value_hwe"] = np.nan
    return table


def annotate_variant_filters(table: pd.DataFrame, *, min_call_rate: float = 0.95,
                             min_p_value_hwe: float = 1e-6, min_af: float = 0.0) -> pd.DataFrame:
    """Add ``pass`` and ``reasons`` (call_rate, hwe, af) to a variant metrics table.

    Defaults: call rate ≥ 0.95 (All of Us GWAS practice; Anderson 2010 uses 0.98–0.99 for arrays),
    HWE p > 1e-6 (Hail GWAS tutorial, Anderson 2010) on ``p_value_hwe_min_group`` when the
    table has it (within-ancestry tests), else on ``p_value_hwe``; ``min_af`` 0 keeps rare
    variants (the tutorial's 0.01 applies to the association step).

    Examples
    --------
    >>> table = pd.DataFrame({"call_rate": [0.75, 1.0, 1.0], "p_value_hwe": [0.5, 1e-9, 0.5],
    ...                       "AF": [0.5, 0.25, 0.375]})
    >>> annotate_variant_filters(table)[["pass", "reasons"]].values.tolist()
    [[False, 'call_rate'], [False, 'hwe'], [True, '']]
    """
    table = table.copy()
    fails = {
        "call_rate": table["call_rate"] < min_call_rate,
        "hwe": table.get("p_value_hwe_min_group", table["p_value_hwe"]) <= min_p_value_hwe,
        "af": table["AF"].fillna(0).clip(upper=1) < min_af,
    }
    failed = pd.DataFrame(fails)
    table["pass"] = ~failed.any(axis=1)
    table["reasons"] = get_reasons(failed)
    return table
