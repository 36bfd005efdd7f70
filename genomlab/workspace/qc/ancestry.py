"""Ancestry PCA on unrelated samples with relateds projected, groups and ancestry outliers.

The PCA is Hail's ``hwe_normalized_pca`` in numpy: genotypes centred by 2p and scaled by
sqrt(2p(1−p)·M), missing calls set to the mean; relateds are projected onto the loadings with
the unrelated samples' frequencies, as gnomAD's ``run_pca_with_relateds`` / ``pc_project`` do.
Groups are k-means clusters of the leading PCs (k by silhouette), since the clinical side
reports no ancestry to train gnomAD's random forest on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2
from scipy.spatial.distance import cdist

from genomlab.workspace.io import GenotypeMatrix


def _standardise(n_alt: np.ndarray, af: np.ndarray, n_variants: int) -> np.ndarray:
    scale = np.sqrt(2 * af * (1 - af) * n_variants)
    x = (n_alt.astype(np.float32) - (2 * af)[:, None]) / scale[:, None]
    x[n_alt < 0] = 0.0
    return x


def compute_pca_with_relateds(gm: GenotypeMatrix, unrelated: np.ndarray, *,
                              k: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    """PC scores of all samples: SVD on ``unrelated`` (boolean mask), the rest projected.

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
    x = _standardise(g[:, unrelated], af, int(keep.sum()))
    k = min(k, x.shape[1] - 1, x.shape[0])
    u, s, vt = np.linalg.svd(x.T, full_matrices=False)  # samples × variants
    loadings = vt[:k].T
    scores = np.empty((g.shape[1], k))
    scores[unrelated] = u[:, :k] * s[:k]
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
    plus ``n_mad`` MADs (the median ± k·MAD rule of gnomAD's stratified filters, one-sided).

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
    for _, members in groups.groupby(groups):
        idx = members.index
        if len(idx) < min_group_size:
            outlier[idx] = True
            continue
        centre = pcs.loc[idx].median()
        dist = np.sqrt(((pcs.loc[idx] - centre) ** 2).sum(axis=1))
        median = dist.median()
        mad = (dist - median).abs().median() * 1.4826
        outlier[idx] = dist > median + n_mad * mad
    return outlier
