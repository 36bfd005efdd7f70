"""Per-variant QC metrics in Hail's ``variant_qc`` vocabulary, computed on the in-memory matrix.

``p_value_hwe`` is the two-sided exact test of Hardy–Weinberg equilibrium with mid-p correction
(Wigginton et al. 2005; Graffelman & Moreno 2013), as Hail's ``hardy_weinberg_test`` and plink2
``--hardy midp`` compute it: the Levene–Haldane distribution of the heterozygote count given the
allele counts, evaluated for all variants at once in log space.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
                     *, chunk_cells: int = 1 << 20) -> np.ndarray:
    """Two-sided exact HWE mid-p-values, vectorised over variants.

    The Levene–Haldane distribution depends only on the number of called samples and the rare
    allele count, so it is evaluated once per distinct pair (a cohort of n samples has at most
    n² / 2 of them, however many variants it holds) and every variant looks its observed het
    count up in its pair's sorted, cumulated probabilities.

    Examples
    --------
    >>> p = compute_hwe_midp(np.array([50]), np.array([0]), np.array([50]))
    >>> bool(p[0] < 1e-20)
    True
    """
    n_hom_ref, n_het, n_hom_var = (np.asarray(a, dtype=np.int64)
                                   for a in (n_hom_ref, n_het, n_hom_var))
    n = n_hom_ref + n_het + n_hom_var
    rare = np.minimum(2 * n_hom_ref + n_het, 2 * n_hom_var + n_het)
    key = rare * (int(n.max(initial=0)) + 1) + n
    by_pair = np.argsort(key, kind="stable")
    sorted_key = key[by_pair]
    new_pair = np.concatenate([[len(key) > 0], sorted_key[1:] != sorted_key[:-1]])
    first = np.append(np.flatnonzero(new_pair), len(key))
    which = np.empty(len(key), dtype=np.int64)
    which[by_pair] = np.cumsum(new_pair) - 1
    pairs = np.stack([rare[by_pair[first[:-1]]], n[by_pair[first[:-1]]]])
    out = np.ones(len(n_het))
    # A chunk's work is its pairs times its widest distribution (rare allele count / 2);
    # pairs come sorted by rare allele count, so rare variants do not pay for common ones.
    start = 0
    while start < pairs.shape[1]:
        width = int(pairs[0, start]) // 2 + 1
        stop = min(pairs.shape[1], start + max(1, chunk_cells // width))
        while stop - start > 1 and int(pairs[0, stop - 1]) // 2 + 1 > width * 1.25 + 8:
            stop = start + (stop - start) // 2
        members = by_pair[first[start]:first[stop]]
        out[members] = _hwe_midp_lookup(pairs[0, start:stop], pairs[1, start:stop],
                                        which[members] - start, n_het[members])
        start = stop
    return np.where(n > 0, out, 0.5)  # Hail: 0.5 without calls


def _hwe_midp_lookup(rare: np.ndarray, n: np.ndarray, which: np.ndarray,
                     het: np.ndarray) -> np.ndarray:
    """Mid-p of variants with observed ``het`` whose distribution is pair ``which`` of
    (``rare``, ``n``)."""
    width = int(rare.max(initial=0)) // 2 + 1
    h = (rare % 2)[:, None] + 2 * np.arange(width)[None, :]  # possible het counts
    valid = h <= rare[:, None]
    # Unnormalised log-probabilities by the recurrence P(h + 2) / P(h) =
    # 4 · rare homozygotes · common homozygotes / ((h + 1)(h + 2)) (Wigginton et al. 2005):
    # one log per cell instead of four log-gamma terms.
    n_rare_hom = (rare[:, None] - h[:, :-1]) // 2
    n_common_hom = n[:, None] - h[:, :-1] - n_rare_hom
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.log(4.0 * n_rare_hom * n_common_hom / ((h[:, :-1] + 1.0) * (h[:, :-1] + 2)))
    log_p = np.zeros(h.shape)
    np.cumsum(step, axis=1, out=log_p[:, 1:])
    log_p = np.where(valid, log_p, -np.inf)
    shift = log_p.max(axis=1, keepdims=True)
    prob = np.exp(log_p - shift)
    total = prob.sum(axis=1)
    obs = prob[which, (het - rare[which] % 2) // 2]
    ordered = np.sort(prob, axis=1)
    cumulated = np.concatenate([np.zeros((len(rare), 1)), np.cumsum(ordered, axis=1)], axis=1)
    below = _count_below(ordered, which, obs * (1 - _TIE_TOLERANCE), strict=True)
    upto = _count_below(ordered, which, obs * (1 + _TIE_TOLERANCE), strict=False)
    less = cumulated[which, below]
    ties = cumulated[which, upto] - less
    return np.minimum((less + 0.5 * ties) / total[which], 1.0)


def _count_below(ordered: np.ndarray, rows: np.ndarray, limit: np.ndarray, *,
                 strict: bool) -> np.ndarray:
    """Per query, how many values of ``ordered[rows]`` (rows sorted ascending) are below
    ``limit`` (``<`` when ``strict``, else ``<=``): a binary search for all queries at once."""
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = np.full(len(rows), ordered.shape[1], dtype=np.int64)
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = np.where(open_, (lo + hi) // 2, 0)
        value = ordered[rows, mid]
        go = open_ & ((value < limit) if strict else (value <= limit))
        lo = np.where(go, mid + 1, lo)
        hi = np.where(open_ & ~go, mid, hi)


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
    return finish_variant_metrics(gm.variants, count_variant_genotypes(gm, males))


def count_variant_genotypes(gm: GenotypeMatrix,
                            males: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The per-variant counts behind :func:`compute_variant_metrics` (sex-aware with
    ``males``): ``n_called``, ``n_hom_ref``, ``n_het``, ``n_hom_var``, ``AC``, ``AN``,
    ``n_samples``, the HWE counts ``hwe_n_hom_ref``/``hwe_n_het``/``hwe_n_hom_var`` and
    ``no_hwe`` (haploid chrY: no test). Counts of disjoint blocks of variants concatenate."""
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
    return {**counts, "AC": ac, "AN": an, "n_samples": n_samples,
            **{f"hwe_{name}": hwe_counts[name] for name in ("n_hom_ref", "n_het", "n_hom_var")},
            "no_hwe": on_y if males is not None else np.zeros(len(ac), dtype=bool)}


def finish_variant_metrics(variants: pd.DataFrame,
                           counts: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`compute_variant_metrics`'s table from (concatenated)
    :func:`count_variant_genotypes` counts, one HWE computation for all variants."""
    ac, an, n_samples = counts["AC"], counts["AN"], counts["n_samples"]
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(an > 0, ac / an, np.nan)
        het_freq_hwe = 2 * af * (1 - af)
    table = variants[["variant", "contig", "position", "ref", "alt"]].reset_index(drop=True)
    table["call_rate"] = counts["n_called"] / np.maximum(n_samples, 1)
    table["n_called"] = counts["n_called"]
    table["n_not_called"] = n_samples - counts["n_called"]
    table["AC"], table["AN"], table["AF"] = ac, an, af
    for name in ("n_hom_ref", "n_het", "n_hom_var"):
        table[name] = counts[name]
    table["het_freq_hwe"] = het_freq_hwe
    table["p_value_hwe"] = compute_hwe_midp_where(counts)
    return table


def compute_hwe_midp_where(counts: dict[str, np.ndarray]) -> np.ndarray:
    """HWE mid-p of :func:`count_variant_genotypes` counts, NaN where ``no_hwe``."""
    p = compute_hwe_midp(counts["hwe_n_hom_ref"], counts["hwe_n_het"], counts["hwe_n_hom_var"])
    return np.where(counts["no_hwe"], np.nan, p)


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
