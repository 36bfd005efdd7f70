"""Cohort-only ancestry (the fallback): PCA on unrelated samples with relateds projected,
k-means groups and outliers.

The PCA is Hail's ``hwe_normalized_pca`` in numpy: genotypes centred by 2p and scaled by
sqrt(2p(1−p)·M), missing calls set to the mean; relateds are projected onto the loadings with
the unrelated samples' frequencies, as gnomAD's ``run_pca_with_relateds`` / ``pc_project`` do.
Groups are k-means clusters of the leading PCs (k by silhouette). With a labelled reference the
pipeline uses :mod:`.ancestry_reference` instead; the rules here scale with the cohort (see
:func:`get_cohort_ancestry`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2
from scipy.spatial.distance import cdist

from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.reference import get_top_eigenpairs
from genomlab.workspace.qc.reference import hwe_standardise as _standardise

#: ``ancestry_group`` of every sample when the cohort is too small to assess ancestry.
NOT_ASSESSABLE = "not_assessable"
UNASSIGNED = "unassigned"


def compute_pca_with_relateds(gm: GenotypeMatrix, unrelated: np.ndarray, *,
                              k: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    """PC scores of all samples: PCA on ``unrelated`` (boolean mask), the rest projected.

    Returns
    -------
    (scores, eigenvalues):
        ``scores`` indexed by sample with ``PC1..PCk`` and ``projected`` (bool).

    Examples
    --------
    Two populations (15 and 10 samples) with their own allele frequencies; S00001 is projected:

    >>> rng = np.random.default_rng(0)
    >>> af = rng.uniform(0.05, 0.95, (2, 500, 1))
    >>> n_alt = np.hstack([rng.binomial(2, af[0], (500, 15)), rng.binomial(2, af[1], (500, 10))])
    >>> gm = GenotypeMatrix.from_counts(n_alt)
    >>> scores, eigenvalues = compute_pca_with_relateds(gm, np.arange(25) > 0, k=4)
    >>> r = np.corrcoef(scores["PC1"], np.repeat([0, 1], [15, 10]))[0, 1]  # PC1 ~ population
    >>> int(scores["projected"].sum()), bool(abs(r) > 0.99)
    (1, True)
    """
    g = gm.n_alt
    sub = g[:, unrelated]
    called = sub >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        af = np.where(called, sub, 0).sum(axis=1) / (2 * called.sum(axis=1))
    keep = np.isfinite(af) & (af > 0) & (af < 1)
    g, af = g[keep], af[keep]
    x = np.asarray(_standardise(g[:, unrelated], af, int(keep.sum())), dtype=np.float64)
    k = min(k, x.shape[1] - 1, x.shape[0])
    # The SVD of X' (samples × variants) through the samples' Gram matrix X'X = U S² U': one
    # n × n eigendecomposition instead of an SVD over all QC variants (300 × 20,000: 1 s instead
    # of 42 s on the 2-core machine, same scores up to sign).
    eigenvalues, u = get_top_eigenpairs(x.T @ x, k)
    s = np.sqrt(np.clip(eigenvalues, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        loadings = np.where(s > 0, (x @ u) / s, 0.0)
    scores = np.empty((g.shape[1], k))
    scores[unrelated] = u * s
    if (~unrelated).any():
        scores[~unrelated] = _standardise(g[:, ~unrelated], af, int(keep.sum())).T @ loadings
    table = pd.DataFrame(scores, columns=[f"PC{i + 1}" for i in range(k)],
                         index=pd.Index(gm.samples, name="s"))
    table["projected"] = ~unrelated
    return table, s[:k] ** 2


def _silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    dist = cdist(points, points)
    groups = np.unique(labels)
    if len(groups) < 2:
        return -1.0
    mean_to = np.stack([dist[:, labels == g].mean(axis=1) for g in groups], axis=1)
    own = np.searchsorted(groups, labels)
    sizes = np.array([(labels == g).sum() for g in groups])
    a = mean_to[np.arange(len(labels)), own] * sizes[own] / np.maximum(sizes[own] - 1, 1)
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(axis=1)
    return float(np.mean((b - a) / np.maximum(a, b)))


def assign_ancestry_groups(scores: pd.DataFrame, *, n_pcs: int = 4, max_groups: int = 8,
                           seed: int = 0) -> pd.Series:
    """Cluster the first ``n_pcs`` PCs with k-means, choosing k in 2..max_groups by silhouette.

    Groups are named ``G1, G2, …`` by decreasing size.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> centres = np.repeat([[5.0, 0.0], [-5.0, 1.0]], [30, 20], axis=0)
    >>> scores = pd.DataFrame(centres + rng.normal(0, 0.3, (50, 2)), columns=["PC1", "PC2"])
    >>> assign_ancestry_groups(scores).value_counts().to_dict()
    {'G1': 30, 'G2': 20}
    """
    columns = [c for c in scores.columns if c.startswith("PC")][:n_pcs]
    points = scores[columns].to_numpy()  # U·S: each PC weighted by its singular value
    # Canonical input, so that groups depend on the genotypes only, not on sample names/order:
    # each PC oriented so its largest-magnitude score is positive, rows ordered by the scores.
    largest = np.abs(points).argmax(axis=0)
    points = points * np.sign(points[largest, np.arange(points.shape[1])])
    canonical = np.lexsort(np.round(points, 9).T[::-1])
    points = points[canonical]
    best: tuple[float, np.ndarray] = (-2.0, np.zeros(len(points), dtype=int))
    rng = np.random.default_rng(seed)
    for n_groups in range(2, min(max_groups, len(points) - 1) + 1):
        for _ in range(3):
            _, labels = kmeans2(points, n_groups, minit="++", rng=rng)
            score = _silhouette(points, labels)
            if score > best[0]:
                best = (score, labels)
    labels = np.empty_like(best[1])
    labels[canonical] = best[1]
    order = pd.Series(labels).value_counts().index.tolist()
    names = {label: f"G{rank + 1}" for rank, label in enumerate(order)}
    return pd.Series([names[x] for x in labels], index=scores.index, name="ancestry_group")


def get_ancestry_outliers(scores: pd.DataFrame, groups: pd.Series, *, min_group_size: int = 10,
                          n_mad: float = 6.0) -> pd.Series:
    """Samples outside their group in PC space, or in a group smaller than ``min_group_size``.

    Outside means a distance to the group median (all PCs) above the group's median distance
    plus ``n_mad`` MADs (the median ± k·MAD rule of gnomAD's stratified filters, one-sided), or,
    along the axis from the group's median to another group's, a position beyond the group's
    median plus ``n_mad`` MADs of its members' positions on that axis: an admixed person lies
    between two groups, which the distance over all PCs (noise PCs included) dilutes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scores = pd.DataFrame(rng.normal(0, 1, (40, 2)), columns=["PC1", "PC2"])
    >>> scores.loc[39] = [30.0, 30.0]
    >>> outliers = get_ancestry_outliers(scores, pd.Series("G1", index=scores.index))
    >>> outliers[outliers].index.tolist()
    [39]
    """
    pcs = scores[[c for c in scores.columns if c.startswith("PC")]]
    outlier = pd.Series(False, index=scores.index, name="ancestry_outlier")
    centres = {}
    for label, members in groups.groupby(groups):
        idx = members.index
        if len(idx) < min_group_size:
            outlier[idx] = True
            continue
        centres[label] = pcs.loc[idx].median().to_numpy()
        dist = np.sqrt(((pcs.loc[idx] - centres[label]) ** 2).sum(axis=1))
        outlier[idx] = _beyond(dist.to_numpy(), n_mad)
    for label, centre in centres.items():  # towards each other group: admixture
        idx = groups.index[groups == label]
        points = pcs.loc[idx].to_numpy() - centre
        for other, other_centre in centres.items():
            separation = np.linalg.norm(other_centre - centre)
            if other != label and separation > 0:
                outlier[idx] |= _beyond(points @ ((other_centre - centre) / separation), n_mad)
    return outlier


def _beyond(values: np.ndarray, n_mad: float) -> np.ndarray:
    """``values`` above their median plus ``n_mad`` scaled MADs."""
    median = np.median(values)
    return values > median + n_mad * 1.4826 * np.median(np.abs(values - median))


def get_cohort_ancestry(scores: pd.DataFrame, *, min_samples: int = 50, min_group_size: int = 10,
                        small_group_share: float = 0.05, n_mad: float = 6.0,
                        max_outlier_share: float = 0.10,
                        seed: int = 0) -> tuple[pd.Series, pd.Series, str]:
    """Cohort-only groups and outliers with rules that scale with the cohort.

    - Fewer than ``min_samples`` unprojected (unrelated) samples: every group is
      :data:`NOT_ASSESSABLE` and nobody is an outlier (k-means on a few dozen people splits
      families and chance, not ancestry).
    - A k-means group smaller than ``max(min_group_size, small_group_share · n)`` is a small
      distant-ancestry minority: its members are flagged ``ancestry_outlier`` (they cannot carry
      per-group MAD filters of their own) rather than merged or passed silently.
    - Members of larger groups beyond median + ``n_mad`` MADs of their group's distances are
      outliers (:func:`get_ancestry_outliers`).
    - If all that would flag more than ``max_outlier_share`` of the cohort, the grouping is not
      trusted: nobody is flagged and the status says so.

    Returns
    -------
    (groups, outliers, status):
        ``groups`` with :data:`UNASSIGNED` for outliers; ``status`` one line for the outputs.

    Examples
    --------
    A 36-person cohort is not assessed:

    >>> rng = np.random.default_rng(0)
    >>> scores = pd.DataFrame(rng.normal(0, 1, (36, 2)), columns=["PC1", "PC2"])
    >>> groups, outliers, status = get_cohort_ancestry(scores)
    >>> groups.unique().tolist(), int(outliers.sum()), status
    (['not_assessable'], 0, 'not assessable: 36 unrelated samples, fewer than 50')
    """
    n = int((~scores["projected"]).sum()) if "projected" in scores.columns else len(scores)
    no_flags = pd.Series(False, index=scores.index, name="ancestry_outlier")
    if n < min_samples:
        groups = pd.Series(NOT_ASSESSABLE, index=scores.index, name="ancestry_group")
        return groups, no_flags, f"not assessable: {n} unrelated samples, fewer than {min_samples}"
    groups = assign_ancestry_groups(scores, seed=seed)
    min_size = max(min_group_size, int(np.ceil(small_group_share * len(scores))))
    outliers = get_ancestry_outliers(scores, groups, min_group_size=min_size, n_mad=n_mad)
    small = groups.map(groups.value_counts()) < min_size
    if outliers.mean() > max_outlier_share:
        return groups, no_flags, (f"not assessable: the grouping would flag {outliers.mean():.0%}"
                                  f" of samples (more than {max_outlier_share:.0%})")
    status = (f"assessed: {groups[~outliers].nunique()} groups; {int(small.sum())} samples in "
              f"groups smaller than {min_size} flagged as ancestry outliers")
    return groups.where(~outliers, UNASSIGNED), outliers, status
