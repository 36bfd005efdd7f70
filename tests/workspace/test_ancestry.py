"""Ancestry groups depend on the genotypes only: not on sample names, order or PC signs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genomlab.workspace.qc.ancestry import assign_ancestry_groups


def _three_overlapping_populations(seed: int = 0) -> pd.DataFrame:
    """Three groups of 12 whose spread overlaps, as in a small cohort: k-means has choices."""
    rng = np.random.default_rng(seed)
    centres = np.array([[6.0, 0.0, 0.0, 0.0], [-3.0, 5.0, 0.0, 0.0], [-3.0, -5.0, 1.0, 0.0]])
    points = np.vstack([c + rng.normal(scale=2.0, size=(12, 4)) for c in centres])
    names = [f"S{i:03d}" for i in range(len(points))]
    return pd.DataFrame(points, index=names, columns=["PC1", "PC2", "PC3", "PC4"])


def _partition(groups: pd.Series) -> set[frozenset[str]]:
    return {frozenset(members.index) for _, members in groups.groupby(groups)}


def test_assign_ancestry_groups__independent_of_sample_order_and_pc_signs() -> None:
    scores = _three_overlapping_populations()
    reference = _partition(assign_ancestry_groups(scores))
    assert len(reference) >= 2
    rng = np.random.default_rng(1)
    for _ in range(5):
        shuffled = scores.iloc[rng.permutation(len(scores))].copy()
        shuffled[["PC1", "PC3"]] *= -1  # an SVD may return either sign
        assert _partition(assign_ancestry_groups(shuffled)) == reference
