"""KING-robust kinship, relationship degrees, duplicates and Mendel errors against the pedigree.

Kinship is the KING-robust between-family estimator of Hail's ``hl.king`` and plink2
``--make-king``, φ = 1/2 + (2·(N_AaAa − 2·N_AA,aa) − N_Aa(i) − N_Aa(j)) / (4·min(N_Aa(i), N_Aa(j)))
over variants called in both samples, computed with a few float32 matrix products over the
in-memory genotypes (BLAS, chunked over variants).
Degree cut-offs are KING's (Manichaikul et al. 2010).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from genomlab.workspace.io import GenotypeMatrix

# Manichaikul et al. 2010, KING manual: lower bounds of each relationship degree.
KING_DUPLICATE = 0.354
KING_FIRST_DEGREE = 0.177
KING_SECOND_DEGREE = 0.0884
KING_THIRD_DEGREE = 0.0442
#: Unrelated pairs expected among the relatives a cohort's KING calls (Bonferroni over all pairs;
#: genomlab's choice): 0.05, so a cohort of any size is called free of false relatives 95 % of
#: the time when its kinship noise is normal.
MAX_FALSE_RELATED_PAIRS = 0.05
#: IBS0 of a first-degree pair relative to unrelated pairs' (KING, Manichaikul et al. 2010:
#: parent–offspring ≈ 0, full siblings ≈ 1/4, second degree ≈ 1/2): 2^-1.5, halfway between
#: full siblings and second degree on the log scale, as KING's kinship bounds lie between degrees.
FIRST_DEGREE_MAX_IBS0_RATIO = 2**-1.5


def compute_king(gm: GenotypeMatrix, *, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """KING-robust kinship matrix and the IBS0 proportion for all sample pairs.

    Returns
    -------
    (kinship, ibs0):
        Two symmetric ``n × n`` float arrays; the diagonal of ``kinship`` is 0.5.

    Examples
    --------
    A father, a mother, their child (one allele from each) and a stranger:

    >>> rng = np.random.default_rng(1)
    >>> father, mother, stranger = rng.binomial(2, 0.3, (3, 2000))
    >>> child = (father + rng.integers(0, 2, 2000)) // 2 + (mother + rng.integers(0, 2, 2000)) // 2
    >>> gm = GenotypeMatrix.from_counts(np.stack([father, mother, child, stranger], axis=1))
    >>> kinship, ibs0 = compute_king(gm)
    >>> get_relationship(kinship[2, [0, 1, 3]]).tolist(), float(ibs0[2, 0])
    (['first_degree', 'first_degree', 'unrelated'], 0.0)
    """
    # Two dense products per chunk: het·het' and d·d' with d = n_alt − 1 (0 for het and
    # missing calls), d_i·d_j being +1 for equal and −1 for opposite homozygotes. The counts
    # that involve missing calls come from the (sparse) missing matrix:
    #   het_called = het·called' = het_i − het·missing',
    #   both_called = called·called' = V − m_i − m_j + missing·missing',
    #   hom·hom' = both_called − het_called − het_called' + het·het',
    #   opposite = (hom·hom' − d·d') / 2.
    # All sums are integers below 2**24 per chunk, exact in float32.
    from scipy import sparse

    n = gm.n_alt.shape[1]
    het_het = np.zeros((n, n), dtype=np.float64)
    same_minus_opposite = np.zeros((n, n), dtype=np.float64)
    het_missing = np.zeros((n, n), dtype=np.float64)
    missing_missing = np.zeros((n, n), dtype=np.float64)
    n_het = np.zeros(n, dtype=np.float64)
    n_missing = np.zeros(n, dtype=np.float64)
    for start in range(0, gm.n_alt.shape[0], chunk):
        g = gm.n_alt[start : start + chunk].T  # samples × variants
        het = (g == 1).astype(np.float32)
        d = np.where(g >= 0, g - 1, 0).astype(np.float32)
        het_het += het @ het.T
        same_minus_opposite += d @ d.T
        missing = sparse.csr_matrix(g < 0, dtype=np.float32)
        if missing.nnz:
            het_missing += np.asarray((missing @ het.T).T)
            missing_missing += (missing @ missing.T).toarray()
        n_het += het.sum(axis=1)
        n_missing += np.asarray(missing.sum(axis=1)).ravel()
    n_variants = gm.n_alt.shape[0]
    het_called = n_het[:, None] - het_missing
    both_called = n_variants - n_missing[:, None] - n_missing[None, :] + missing_missing
    hom_hom = both_called - het_called - het_called.T + het_het
    opposite = (hom_hom - same_minus_opposite) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        n_i, n_j = het_called, het_called.T
        kinship = 0.5 + (2 * (het_het - 2 * opposite) - n_i - n_j) / (4 * np.minimum(n_i, n_j))
        ibs0 = opposite / both_called
    np.fill_diagonal(kinship, 0.5)
    return kinship, ibs0


@dataclass(frozen=True)
class KinshipNoise:
    """How far unrelated pairs' KING kinship and IBS0 scatter, from the pairs within ancestry
    groups (see :func:`get_kinship_noise`).

    ``threshold`` is the kinship an unrelated pair exceeds by chance with probability
    ``max_false_pairs / n_pairs``: median + ``z``·SD with ``z`` the normal quantile of that
    probability (a Bonferroni bound over the ``n_pairs`` pairs judged), the SD being the MAD
    scaled to a normal SD; ``ibs0_threshold`` likewise the IBS0 an unrelated pair falls below
    by chance, median − ``z``·SD of their IBS0.
    """

    median: float
    sd: float
    z: float
    threshold: float
    ibs0_median: float
    ibs0_threshold: float
    n_pairs: int


def get_kinship_noise(kinship: np.ndarray, ibs0: np.ndarray, groups: np.ndarray | None = None,
                      *, max_false_pairs: float = MAX_FALSE_RELATED_PAIRS) -> KinshipNoise:
    """The scatter of unrelated pairs' kinship and their median IBS0, robust to the few real
    relatives: median and MAD over all pairs within the same ``groups`` label (ancestry;
    between-group pairs are shifted negative), and the kinship that fewer than
    ``max_false_pairs`` unrelated pairs reach by chance among all pairs of the cohort.

    KING's noise is close to normal (on worlds of 225–947 samples and ~3,300 QC variants the
    largest unrelated pair lay 2.3–4.0 SDs above the median, fewer than the normal maximum),
    so the bound grows with the number of pairs as ``sqrt(2·ln(n_pairs))``, not with a fixed
    multiple. With ~1e5 independent variants it is far below KING's second-degree bound; with
    a few thousand variants in LD blocks (SD ≈ 0.028) it lands between the second- and
    first-degree bounds (≈ 0.14 for 947 samples).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> k = rng.normal(0.0, 0.02, (200, 200)); k = np.triu(k, 1) + np.triu(k, 1).T
    >>> noise = get_kinship_noise(k, np.full((200, 200), 0.07))
    >>> noise.n_pairs, round(noise.z, 2), round(noise.threshold, 2), noise.ibs0_median
    (19900, 4.56, 0.09, 0.07)
    """
    i, j = np.triu_indices_from(kinship, k=1)
    n_pairs = len(i)
    within = np.ones(n_pairs, dtype=bool) if groups is None else groups[i] == groups[j]
    values, ibs0_values = kinship[i[within], j[within]], ibs0[i[within], j[within]]
    ok = np.isfinite(values)
    values, ibs0_values = values[ok], ibs0_values[ok & np.isfinite(ibs0_values)]
    nan = float("nan")
    if len(values) == 0:
        return KinshipNoise(nan, nan, nan, nan, nan, nan, n_pairs)
    median, sd = _median_sd(values)
    ibs0_median, ibs0_sd = _median_sd(ibs0_values) if len(ibs0_values) else (nan, nan)
    z = float(stats.norm.isf(max_false_pairs / max(n_pairs, 1)))
    return KinshipNoise(median, sd, z, median + z * sd, ibs0_median, ibs0_median - z * ibs0_sd,
                        n_pairs)


def _median_sd(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD scaled to a normal SD."""
    median = float(np.median(values))
    return median, 1.4826 * float(np.median(np.abs(values - median)))


def get_undeclared_relatives(pairs: pd.DataFrame, noise: KinshipNoise, *,
                             min_kinship: float = KING_SECOND_DEGREE,
                             first_degree_max_ibs0_ratio: float = FIRST_DEGREE_MAX_IBS0_RATIO,
                             ) -> np.ndarray:
    """Which ``pairs`` (``kinship``, ``ibs0``) are relatives, as KING calls them with the noise
    of the cohort's unrelated pairs in mind.

    A pair is related when its kinship exceeds KING's bound ``min_kinship`` (second degree)
    and the chance level ``noise.threshold``; or, when few variants make that level higher
    than KING's first-degree bound, when its kinship exceeds the first-degree bound and its
    IBS0 is below ``first_degree_max_ibs0_ratio`` times the unrelated pairs' median IBS0 and
    below their chance level ``noise.ibs0_threshold``: a parent and child share an allele at
    every site (IBS0 ≈ 0) and full siblings have no allele IBD at a quarter of the genome
    (IBS0 ≈ 1/4 of unrelated pairs'), which unrelated pairs whose kinship noise reaches first
    degree do not show (their IBS0 noise is checked too: kinship and IBS0 are counted on the
    same sites, so a pair high by chance in one is low in the other).

    Examples
    --------
    With few variants the chance level is 0.25: only the pair with a parent–child IBS0 counts.

    >>> noise = KinshipNoise(0.0, 0.05, 5.0, 0.25, 0.07, 0.01, 1000)
    >>> pairs = pd.DataFrame({"kinship": [0.22, 0.22, 0.30], "ibs0": [0.0, 0.06, 0.06]})
    >>> get_undeclared_relatives(pairs, noise).tolist()
    [True, False, True]
    """
    kinship, ibs0 = pairs["kinship"].to_numpy(), pairs["ibs0"].to_numpy()
    above_noise = (kinship > min_kinship) & (kinship > noise.threshold)
    low_ibs0 = ibs0 < min(first_degree_max_ibs0_ratio * noise.ibs0_median, noise.ibs0_threshold)
    return np.asarray(above_noise | ((kinship > KING_FIRST_DEGREE) & low_ibs0), dtype=bool)


def get_relationship(kinship: np.ndarray | float) -> np.ndarray:
    """KING degree label per kinship value: duplicate, first, second, third degree, unrelated."""
    k = np.asarray(kinship)
    return np.select(
        [k > KING_DUPLICATE, k > KING_FIRST_DEGREE, k > KING_SECOND_DEGREE, k > KING_THIRD_DEGREE],
        ["duplicate", "first_degree", "second_degree", "third_degree"], "unrelated")


def get_related_pairs(kinship: np.ndarray, ibs0: np.ndarray, samples: list[str],
                      families: pd.Series, *,
                      min_kinship: float = KING_THIRD_DEGREE) -> pd.DataFrame:
    """All pairs with kinship above ``min_kinship``, their degree and whether they were declared.

    ``declared`` is true when both samples belong to the same declared family (fam FID).

    Examples
    --------
    >>> kinship = np.array([[0.5, 0.25, 0.0], [0.25, 0.5, 0.01], [0.0, 0.01, 0.5]])
    >>> families = pd.Series({"S1": "F1", "S2": "F2", "S3": "F3"})
    >>> pairs = get_related_pairs(kinship, np.zeros((3, 3)), ["S1", "S2", "S3"], families)
    >>> pairs[["i", "j", "relationship", "declared"]].values.tolist()  # undeclared relatives
    [['S1', 'S2', 'first_degree', False]]
    """
    i, j = np.nonzero(np.triu(kinship > min_kinship, k=1))
    fam = families.reindex(samples).to_numpy()
    return pd.DataFrame({
        "i": [samples[a] for a in i], "j": [samples[b] for b in j],
        "kinship": kinship[i, j], "ibs0": ibs0[i, j],
        "relationship": get_relationship(kinship[i, j]),
        "declared": fam[i] == fam[j],
    })


def get_pedigree_pairs(info: pd.DataFrame) -> pd.DataFrame:
    """Declared parent–child pairs (``child``, ``parent``, ``role``) among the samples."""
    rows = []
    for child, row in info.iterrows():
        for role in ("father", "mother"):
            parent = row.get(role)
            if isinstance(parent, str) and parent not in ("0", "") and parent in info.index:
                rows.append({"child": child, "parent": parent, "role": role})
    return pd.DataFrame(rows, columns=["child", "parent", "role"])


def get_pedigree_failures(info: pd.DataFrame, kinship: pd.DataFrame, trios: pd.DataFrame, *,
                          min_parent_kinship: float = KING_FIRST_DEGREE,
                          ) -> tuple[pd.DataFrame, set[str]]:
    """KING against the declared pedigree: every declared parent–child pair with its kinship
    and ``consistent`` (first degree or closer), and the children to flag — those outside
    complete trios (which the Mendel check judges) with an inconsistent declared parent.

    Examples
    --------
    S3 declares S1 as its father, but their kinship is that of strangers:

    >>> info = pd.DataFrame({"father": ["0", "0", "S1"], "mother": ["0", "0", "0"]},
    ...                     index=["S1", "S2", "S3"])
    >>> kinship = pd.DataFrame(0.0, index=info.index, columns=info.index)
    >>> pairs, failed = get_pedigree_failures(info, kinship, pd.DataFrame({"child": []}))
    >>> pairs[["child", "parent", "consistent"]].values.tolist(), failed
    ([['S3', 'S1', False]], {'S3'})
    """
    pairs = get_pedigree_pairs(info)
    pairs["kinship"] = [float(kinship.loc[c, p])
                        for c, p in zip(pairs["child"], pairs["parent"], strict=True)]
    pairs["consistent"] = pairs["kinship"] > min_parent_kinship
    outside_trios = ~pairs["child"].isin(set(trios["child"]))
    return pairs, set(pairs.loc[~pairs["consistent"] & outside_trios, "child"])


def _mendel_table() -> np.ndarray:
    """``consistent[father, mother, child]`` for alternate-allele counts 0/1/2."""
    transmitted = {0: {0}, 1: {0, 1}, 2: {1}}
    table = np.zeros((3, 3, 3), dtype=bool)
    for f in range(3):
        for m in range(3):
            for a in transmitted[f]:
                for b in transmitted[m]:
                    table[f, m, a + b] = True
    return table


_CONSISTENT = _mendel_table()


def compute_mendel_errors(gm: GenotypeMatrix, info: pd.DataFrame) -> pd.DataFrame:
    """Autosomal Mendel errors per complete trio (child, father and mother all genotyped).

    Counts variants where the child's genotype cannot come from the parents' — the autosomal
    codes of Hail's ``mendel_errors`` (all three called, or a homozygous child opposite one
    called homozygous parent).

    Examples
    --------
    Father S00001, mother S00002, child S00003; the first and last variants cannot be inherited:

    >>> gm = GenotypeMatrix.from_counts([[0, 0, 1], [2, 2, 2], [0, 2, 1], [0, 0, 2]])
    >>> info = pd.DataFrame({"father": ["0", "0", "S00001"], "mother": ["0", "0", "S00002"]},
    ...                     index=gm.samples)
    >>> compute_mendel_errors(gm, info)[["child", "n_errors", "n_called"]].values.tolist()
    [['S00003', 2, 4]]
    """
    index = {s: k for k, s in enumerate(gm.samples)}
    auto = gm.n_alt[gm.is_autosomal]
    rows = []
    for child, row in info.iterrows():
        father, mother = row.get("father"), row.get("mother")
        if child not in index or father not in index or mother not in index:
            continue
        c, f, m = (auto[:, index[x]] for x in (child, father, mother))
        called = (c >= 0) & (f >= 0) & (m >= 0)
        inconsistent = np.zeros(len(c), dtype=bool)
        inconsistent[called] = ~_CONSISTENT[f[called], m[called], c[called]]
        # Hail's codes 3, 4, 6 and 7 need only one parent: a hom child opposite a hom parent.
        one_parent = ((c == 2) & ((f == 0) | (m == 0))) | ((c == 0) & ((f == 2) | (m == 2)))
        errors = inconsistent | one_parent
        rows.append({"child": child, "father": father, "mother": mother,
                     "n_errors": int(errors.sum()), "n_called": int(called.sum())})
    table = pd.DataFrame(rows, columns=["child", "father", "mother", "n_errors", "n_called"])
    table["error_rate"] = table["n_errors"] / table["n_called"].where(table["n_called"] > 0)
    return table


def get_mendel_failures(trios: pd.DataFrame, kinship: pd.DataFrame, *,
                        max_error_rate: float = 0.05,
                        min_parent_kinship: float = KING_FIRST_DEGREE) -> dict[str, str]:
    """Samples to flag for a trio with too many Mendel errors, and why.

    ``max_error_rate`` is PLINK's ``--me 0.05`` per-family rate (Anderson et al. 2010). The
    sample blamed is the one whose declared parent–child kinship is below first degree: the
    father or the mother if only that link fails, else the child (a swapped-in sample).

    Examples
    --------
    The child is first degree to its father but not to its declared mother:

    >>> trios = pd.DataFrame({"child": ["S3"], "father": ["S1"], "mother": ["S2"],
    ...                       "error_rate": [0.3]})
    >>> kinship = pd.DataFrame([[0.5, 0.0, 0.25], [0.0, 0.5, 0.0], [0.25, 0.0, 0.5]],
    ...                        index=["S1", "S2", "S3"], columns=["S1", "S2", "S3"])
    >>> get_mendel_failures(trios, kinship)
    {'S2': 'mendel'}
    """
    flagged: dict[str, str] = {}
    for row in trios.itertuples():
        if not row.error_rate > max_error_rate:
            continue
        father_ok = kinship.loc[row.child, row.father] > min_parent_kinship
        mother_ok = kinship.loc[row.child, row.mother] > min_parent_kinship
        if father_ok and not mother_ok:
            blamed = row.mother
        elif mother_ok and not father_ok:
            blamed = row.father
        else:
            blamed = row.child
        flagged[blamed] = "mendel"
    return flagged


def get_maximal_independent_set(samples: list[str], pairs: list[tuple[str, str]],
                                rank: pd.Series) -> set[str]:
    """Samples to remove so that no pair remains; greedily drops the most connected sample,
    ties broken by the lower ``rank`` (e.g. call rate), like ``hl.maximal_independent_set``.

    Examples
    --------
    >>> get_maximal_independent_set(["a", "b"], [("a", "b")], pd.Series({"a": 1.0, "b": 0.9}))
    {'b'}
    """
    remaining = {tuple(sorted(p)) for p in pairs if p[0] != p[1]}
    removed: set[str] = set()
    while remaining:
        degree: dict[str, int] = {}
        for a, b in remaining:
            degree[a] = degree.get(a, 0) + 1
            degree[b] = degree.get(b, 0) + 1
        drop = max(degree, key=lambda s: (degree[s], -rank.get(s, 0.0), s))
        removed.add(drop)
        remaining = {p for p in remaining if drop not in p}
    return removed & set(samples)
