"""Allele-frequency tables by group and scikit-allel population statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.workspace.analysis.frequencies import compute_allele_frequency_table
from genomlab.workspace.analysis.popgen import compute_diversity, compute_pairwise_fst
from genomlab.workspace.qc.pipeline import read_qc_genotypes
from genomlab.workspace.qc.variant_qc import compute_variant_metrics

pytestmark = [pytest.mark.hail, pytest.mark.slow]


@pytest.fixture(scope="module")
def groups(qc_run: tuple[Any, Path]) -> pd.Series:
    result, _ = qc_run
    table = result.sample_qc.set_index("sample")
    return table.loc[table["pass"], "ancestry_group"]


def test_compute_allele_frequency_table__groups_add_up_to_cohort(qc_run: tuple[Any, Path],
                                                                 groups: pd.Series) -> None:
    _, out = qc_run
    gm = read_qc_genotypes(out)
    table = compute_allele_frequency_table(gm, groups, by="ancestry_group")
    assert set(table["ancestry_group"]) == set(groups)
    totals = table.groupby("variant", sort=False)[["AC", "AN"]].sum()
    cohort = compute_variant_metrics(gm.subset(cols=np.isin(gm.samples, groups.index)))
    cohort = cohort.set_index("variant")
    assert (totals["AC"] == cohort.loc[totals.index, "AC"]).all()
    assert (totals["AN"] == cohort.loc[totals.index, "AN"]).all()
    small = compute_allele_frequency_table(gm, groups, by="ancestry_group", min_samples=10**6)
    assert small.empty


def test_compute_allele_frequency_table__by_disease_type(qc_run: tuple[Any, Path],
                                                         world: Path) -> None:
    from genomlab.workspace.io import read_samples_tsv

    _, out = qc_run
    info = read_samples_tsv(world / "genotypes" / "samples.tsv")
    table = compute_allele_frequency_table(read_qc_genotypes(out), info["disease_type"],
                                           by="disease_type")
    assert set(table["disease_type"]) == set(info["disease_type"].dropna())
    assert table["AF"].dropna().between(0, 1).all()


def test_compute_pairwise_fst__separates_groups_not_random_halves(qc_run: tuple[Any, Path],
                                                                  groups: pd.Series) -> None:
    _, out = qc_run
    gm = read_qc_genotypes(out)
    fst = compute_pairwise_fst(gm, groups[groups != "unassigned"])
    assert len(fst) == 3
    assert fst["fst"].between(0.03, 0.4).all()
    largest = groups[groups == groups.value_counts().index[0]]
    halves = pd.Series(np.where(np.arange(len(largest)) % 2, "a", "b"), index=largest.index)
    null = compute_pairwise_fst(gm, halves)
    assert abs(null["fst"].iloc[0]) < 0.01


def test_compute_diversity__per_group(qc_run: tuple[Any, Path], groups: pd.Series) -> None:
    _, out = qc_run
    table = compute_diversity(read_qc_genotypes(out), groups).set_index("group")
    assert set(table.index) == set(groups)
    main = table[table["n_samples"] >= 20]
    assert (main["pi"] > 0.1).all()
    assert (main["pi"] < 0.6).all()
    np.testing.assert_allclose(main["het_observed"], main["het_expected"], atol=0.05)
