"""Population statistics with scikit-allel: Hudson's Fst between groups and diversity per group."""

from __future__ import annotations

from itertools import combinations

import allel
import numpy as np
import pandas as pd

from genomlab.workspace.analysis.frequencies import compute_group_allele_counts
from genomlab.workspace.io import GenotypeMatrix


def compute_pairwise_fst(gm: GenotypeMatrix, groups: pd.Series, *,
                         block_length: int = 100) -> pd.DataFrame:
    """Hudson's Fst (ratio of averages) for every pair of groups, with a block-jackknife SE.

    Uses ``allel.average_hudson_fst`` on autosomal variants segregating in the pair.

    Examples
    --------
    Groups A and B are drawn from the same allele frequencies, C from others:

    >>> rng = np.random.default_rng(0)
    >>> af = rng.uniform(0.05, 0.95, (2, 1000, 1))
    >>> n_alt = np.hstack([rng.binomial(2, af[k], (1000, 20)) for k in (0, 0, 1)])
    >>> gm = GenotypeMatrix.from_counts(n_alt)
    >>> fst = compute_pairwise_fst(gm, pd.Series(np.repeat(["A", "B", "C"], 20), index=gm.samples))
    >>> fst[["group_1", "group_2"]].values.tolist(), (fst["fst"] > 0.1).tolist()
    ([['A', 'B'], ['A', 'C'], ['B', 'C']], [False, True, True])
    """
    auto = gm.subset(rows=gm.is_autosomal)
    counts = compute_group_allele_counts(auto, groups)
    rows = []
    for a, b in combinations(sorted(counts), 2):
        ac1, ac2 = counts[a], counts[b]
        total = ac1 + ac2
        keep = (total[:, 0] > 0) & (total[:, 1] > 0) & (ac1.sum(1) > 1) & (ac2.sum(1) > 1)
        n = int(keep.sum())
        blen = max(1, min(block_length, n // 10)) if n else 1
        if n < 2:
            fst, se = np.nan, np.nan
        else:
            fst, se, _, _ = allel.average_hudson_fst(ac1[keep], ac2[keep], blen=blen)
        rows.append({"group_1": a, "group_2": b, "n_variants": n, "fst": float(fst),
                     "fst_se": float(se)})
    return pd.DataFrame(rows, columns=["group_1", "group_2", "n_variants", "fst", "fst_se"])


def compute_diversity(gm: GenotypeMatrix, groups: pd.Series) -> pd.DataFrame:
    """Per group: samples, segregating sites, mean pairwise difference per site (π over the
    variant sites), expected and observed heterozygosity, on autosomes.

    Examples
    --------
    Group B carries only reference alleles:

    >>> rng = np.random.default_rng(0)
    >>> n_alt = np.hstack([rng.binomial(2, 0.5, (200, 10)), np.zeros((200, 10), int)])
    >>> gm = GenotypeMatrix.from_counts(n_alt)
    >>> table = compute_diversity(gm, pd.Series(np.repeat(["A", "B"], 10), index=gm.samples))
    >>> table.set_index("group")[["n_segregating", "pi"]].round(2).to_dict("index")
    {'A': {'n_segregating': 200, 'pi': 0.5}, 'B': {'n_segregating': 0, 'pi': 0.0}}
    """
    auto = gm.subset(rows=gm.is_autosomal)
    labels = groups.reindex(auto.samples)
    rows = []
    for name, counts in compute_group_allele_counts(auto, groups).items():
        ac = allel.AlleleCountsArray(counts)
        members = (labels == name).to_numpy()
        sub = auto.n_alt[:, members]
        called = (sub >= 0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            het_obs = np.nanmean(np.where(called > 0, (sub == 1).sum(axis=1) / called, np.nan))
        rows.append({
            "group": name, "n_samples": int(members.sum()),
            "n_segregating": int(ac.count_segregating()),
            "pi": float(np.nanmean(allel.mean_pairwise_difference(ac, fill=np.nan))),
            "het_expected": float(np.nanmean(allel.heterozygosity_expected(
                ac.to_frequencies(), ploidy=2, fill=np.nan))),
            "het_observed": float(het_obs),
        })
    return pd.DataFrame(rows)
