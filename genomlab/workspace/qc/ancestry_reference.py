"""Ancestry against a labelled reference, as gnomAD, All of Us and UK Biobank assign it.

The cohort is projected onto the reference's PCA loadings (:mod:`.reference`); a random forest
trained on the labelled reference scores assigns each sample the population of highest
probability, or ``unassigned`` below ``min_prob`` — gnomAD's ``assign_genetic_ancestry_pcs``
(``gnomad`` package, formerly ``assign_population_pcs``) does the training and assignment.

A random forest extrapolates: a sample far from every reference population (a distant ancestry
absent from the panel, an admixed person between two) can still get a confident vote. So a
sample is also left unassigned when it lies further from its population's reference centroid
than the reference members themselves do (:func:`get_reference_distance_ratio`, genomlab's
addition, in the spirit of the median ± k·MAD rules of gnomAD's outlier filters).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from genomlab.workspace.qc.reference import ReferencePca

#: gnomAD's assignment threshold: ``--min-pop-prob 0.75`` of gnomad_qc v3.1 / v4
#: ``assign_ancestry.py`` (the library function's own default is 0.9).
GNOMAD_MIN_PROB = 0.75
#: gnomAD's random-forest seed (``assign_genetic_ancestry_pcs(seed=42)``).
GNOMAD_RF_SEED = 42
_REF_PREFIX = "reference:"


def count_informative_pcs(eigenvalues: np.ndarray, n_samples: int, n_variants: int) -> int:
    """PCs whose eigenvalue exceeds the largest eigenvalue of pure noise, the Marchenko–Pastur
    edge (1 + sqrt(n/M))² for an HWE-normalised n-sample × M-variant matrix (Patterson, Price
    and Reich 2006); at least 2.

    Noise PCs must not feed the classifier: reference scores are in-sample and inflated on them,
    the projected cohort's are not, so a forest trained on them leaves real members unassigned.

    Examples
    --------
    >>> count_informative_pcs(np.array([15.9, 12.6, 1.61, 1.59]), 300, 4000)
    2
    """
    edge = (1 + np.sqrt(n_samples / n_variants)) ** 2
    return max(2, int((np.asarray(eigenvalues) > edge).sum()))


def assign_ancestry_from_reference(scores: pd.DataFrame, ref: ReferencePca, *, n_pcs: int,
                                   min_prob: float = GNOMAD_MIN_PROB,
                                   seed: int = GNOMAD_RF_SEED) -> pd.DataFrame:
    """Per sample of ``scores`` (projected ``PC1..``), ``ancestry_group`` (a reference
    population, or ``unassigned`` below ``min_prob``), ``ancestry_prob`` (the highest class
    probability) and ``prob_<population>``.

    gnomAD's ``assign_genetic_ancestry_pcs`` trains its random forest (100 trees, 80 % of the
    labelled samples) on the reference scores of the first ``n_pcs`` PCs.

    Examples
    --------
    Three reference populations; the third cohort sample lies between them:

    >>> rng = np.random.default_rng(0)
    >>> pcs = pd.DataFrame(rng.normal(0, 0.1, (90, 2)) + np.repeat([[1, 0], [-1, 0], [0, 1.5]],
    ...                    30, axis=0), columns=["PC1", "PC2"], index=[f"R{i}" for i in range(90)])
    >>> ref = ReferencePca("toy", "", pd.Index([]), np.array([]), np.zeros((0, 2)),
    ...                    pcs.assign(population=np.repeat(["A", "B", "C"], 30)), np.ones(2))
    >>> cohort = pd.DataFrame([[1.0, 0.0], [-1.0, 0.1], [0.0, 0.5]], columns=["PC1", "PC2"],
    ...                       index=["S1", "S2", "S3"])
    >>> assign_ancestry_from_reference(cohort, ref, n_pcs=2)["ancestry_group"].tolist()
    ['A', 'B', 'unassigned']
    """
    from gnomad.sample_qc.ancestry import assign_genetic_ancestry_pcs

    logging.getLogger("gnomad.sample_qc.ancestry").setLevel(logging.ERROR)
    pcs = [f"PC{i + 1}" for i in range(n_pcs)]
    reference = ref.scores[["population", *pcs]].rename(index=lambda s: f"{_REF_PREFIX}{s}")
    cohort = scores[pcs].assign(population=None)
    table = pd.concat([reference, cohort]).rename_axis("s").reset_index()
    assigned, _ = assign_genetic_ancestry_pcs(
        table, pcs, known_col="population", seed=seed, min_prob=min_prob,
        output_col="ancestry_group", missing_label="unassigned")
    assigned = assigned.set_index("s").loc[scores.index.astype(str)]
    probs = [f"prob_{pop}" for pop in ref.populations]
    out = assigned[["ancestry_group", *probs]].copy()
    out.insert(1, "ancestry_prob", out[probs].max(axis=1))
    out.index = scores.index
    return out


def get_reference_distance_ratio(scores: pd.DataFrame, groups: pd.Series, ref: ReferencePca, *,
                                 n_pcs: int, n_mad: float = 6.0) -> pd.Series:
    """Per sample, its distance to the reference centroid of its group (first ``n_pcs`` PCs)
    divided by the group's limit, median + ``n_mad``·MAD of the reference members' distances;
    NaN for samples whose group is not a reference population.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pcs = pd.DataFrame(rng.normal(0, 0.1, (50, 2)), columns=["PC1", "PC2"])
    >>> ref = ReferencePca("toy", "", pd.Index([]), np.array([]), np.zeros((0, 2)),
    ...                    pcs.assign(population="A"), np.ones(2))
    >>> cohort = pd.DataFrame([[0.05, 0.0], [3.0, 0.0]], columns=["PC1", "PC2"])
    >>> (get_reference_distance_ratio(cohort, pd.Series("A", index=cohort.index), ref,
    ...                               n_pcs=2) > 1).tolist()
    [False, True]
    """
    pcs = [f"PC{i + 1}" for i in range(n_pcs)]
    ratio = pd.Series(np.nan, index=scores.index, name="ancestry_distance_ratio")
    for pop, members in ref.scores.groupby("population"):
        centre = members[pcs].mean()
        own = np.sqrt(((members[pcs] - centre) ** 2).sum(axis=1))
        limit = own.median() + n_mad * 1.4826 * (own - own.median()).abs().median()
        idx = groups.index[groups == pop]
        ratio[idx] = np.sqrt(((scores.loc[idx, pcs] - centre) ** 2).sum(axis=1)) / limit
    return ratio
