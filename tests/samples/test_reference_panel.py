"""The world's labelled reference panel: PLINK files that read back as drawn, one row per label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from genomlab.samples.reference_panel import (
    REFERENCE_POPULATIONS,
    draw_reference_genotypes,
    write_reference_panel,
)
from genomlab.workspace.io import read_bed


def test_write_reference_panel__plink_files_read_back_as_drawn(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    groups = ["EUR", "AFR", "EAS", "OCE"]
    freqs = rng.uniform(0.05, 0.95, (len(groups), 37))
    ids = [f"chr{1 + i % 22}:{1000 + i}:A:G" for i in range(37)]
    panel = write_reference_panel(tmp_path, np.random.default_rng(9), freqs, groups, ids,
                                  n_per_group=7)
    drawn = draw_reference_genotypes(np.random.default_rng(9), freqs[:3], n_per_group=7)
    gm = read_bed(panel / "panel")
    assert np.array_equal(gm.n_alt, drawn)
    assert gm.variants["variant"].tolist() == ids
    labels = pd.read_csv(panel / "labels.tsv", sep="\t")
    assert labels["sample"].tolist() == gm.samples
    assert labels["population"].value_counts().to_dict() == dict.fromkeys(REFERENCE_POPULATIONS, 7)


def test_world_reference_panel__labels_follow_the_group_frequencies(world: Path) -> None:
    gm = read_bed(world / "reference_panel" / "panel")
    labels = pd.read_csv(world / "reference_panel" / "labels.tsv", sep="\t")
    assert gm.n_alt.shape == (len(gm.variants), 100 * len(REFERENCE_POPULATIONS))
    assert gm.is_autosomal.all()
    af = {pop: gm.n_alt[:, (labels["population"] == pop).to_numpy()].mean(axis=1) / 2
          for pop in REFERENCE_POPULATIONS}
    # Drift makes the populations differ (Fst ~ 0.1) but not unrelated (shared ancestry).
    r = np.corrcoef(af["EUR"], af["AFR"])[0, 1]
    assert 0.6 < r < 0.97
    assert np.abs(af["EUR"] - af["AFR"]).mean() > 0.05
