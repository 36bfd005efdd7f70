"""Undeclared relatives: KING's degree bounds, the chance level of unrelated pairs and IBS0."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.relatedness import (
    FIRST_DEGREE_MAX_IBS0_RATIO,
    KING_FIRST_DEGREE,
    compute_king,
    get_kinship_noise,
    get_undeclared_relatives,
)


def _families(rng: np.random.Generator, n_variants: int, n_unrelated: int,
              n_families: int) -> tuple[np.ndarray, set[tuple[int, int]], set[tuple[int, int]]]:
    """Genotypes (variants × samples) of unrelated founders and ``n_families`` families of
    father, mother and two children (independent sites); the parent–child and sibling pairs."""
    p = rng.uniform(0.1, 0.9, n_variants)
    sites = np.arange(n_variants)
    founders = (rng.random((n_unrelated + 2 * n_families, 2, n_variants)) < p).astype(np.int8)

    def child(father: np.ndarray, mother: np.ndarray) -> np.ndarray:
        return np.stack([father[rng.integers(0, 2, n_variants), sites],
                         mother[rng.integers(0, 2, n_variants), sites]])

    parents = [(n_unrelated + 2 * f, n_unrelated + 2 * f + 1) for f in range(n_families)]
    children = [np.stack([child(founders[a], founders[b]) for a, b in parents])
                for _ in range(2)]
    haps = np.concatenate([founders, *children])
    first, second = n_unrelated + 2 * n_families, n_unrelated + 3 * n_families
    parent_child = {(parent, kid[f]) for f, pair in enumerate(parents) for parent in pair
                    for kid in (range(first, second), range(second, second + n_families))}
    siblings = {(first + f, second + f) for f in range(n_families)}
    return haps.sum(axis=1).T, parent_child, siblings


def test_get_undeclared_relatives__few_variants_find_parents_by_ibs0_and_no_strangers() -> None:
    # 300 independent sites: the chance level of 40k unrelated pairs lies above KING's
    # first-degree bound, so parent and child are told apart from strangers by IBS0 ≈ 0.
    counts, parent_child, siblings = _families(np.random.default_rng(1), 300, 200, 6)
    kinship, ibs0 = compute_king(GenotypeMatrix.from_counts(counts))
    noise = get_kinship_noise(kinship, ibs0)
    i, j = np.triu_indices_from(kinship, k=1)
    pairs = pd.DataFrame({"i": i, "j": j, "kinship": kinship[i, j], "ibs0": ibs0[i, j]})
    related = get_undeclared_relatives(pairs, noise)
    found = set(zip(pairs["i"][related], pairs["j"][related], strict=True))

    assert noise.threshold > KING_FIRST_DEGREE
    assert found <= parent_child | siblings  # no stranger
    below_chance = {(a, b) for a, b in parent_child if kinship[a, b] <= noise.threshold}
    assert len(below_chance) >= 4  # found only through IBS0
    assert parent_child <= found


def test_get_kinship_noise__chance_level_grows_with_the_number_of_pairs() -> None:
    # The same noise (SD 0.02) in 50 and in 1,000 samples: more pairs, a higher chance level.
    levels = []
    for n in (50, 1000):
        k = np.random.default_rng(n).normal(0.0, 0.02, (n, n))
        k = np.triu(k, 1) + np.triu(k, 1).T
        noise = get_kinship_noise(k, np.full((n, n), 0.07))
        i, j = np.triu_indices(n, k=1)
        assert (k[i, j] > noise.threshold).sum() == 0
        assert abs(noise.sd - 0.02) < 0.002
        levels.append(noise.threshold)
    assert 0.07 < levels[0] < 0.085 < 0.1 < levels[1] < 0.12


def test_get_undeclared_relatives__too_few_variants_call_no_strangers() -> None:
    # 200 sites: some strangers reach first-degree kinship with an IBS0 below 2^-1.5 of the
    # median by chance; the IBS0 chance level keeps them out.
    counts, parent_child, siblings = _families(np.random.default_rng(1), 200, 200, 6)
    kinship, ibs0 = compute_king(GenotypeMatrix.from_counts(counts))
    noise = get_kinship_noise(kinship, ibs0)
    i, j = np.triu_indices_from(kinship, k=1)
    pairs = pd.DataFrame({"i": i, "j": j, "kinship": kinship[i, j], "ibs0": ibs0[i, j]})
    found = pairs[get_undeclared_relatives(pairs, noise)]

    assert set(zip(found["i"], found["j"], strict=True)) <= parent_child | siblings
    strangers = ~pd.Series(list(zip(i, j, strict=True))).isin(parent_child | siblings)
    low_ibs0 = pairs["ibs0"] < FIRST_DEGREE_MAX_IBS0_RATIO * noise.ibs0_median
    lucky = strangers & (pairs["kinship"] > KING_FIRST_DEGREE) & low_ibs0
    assert lucky.sum() >= 1  # what the IBS0 ratio alone would have called
