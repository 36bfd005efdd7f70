"""The pipeline's ancestry step: against a labelled reference when there is one, else the
cohort-only fallback; with a record of what was used (for ``qc_provenance.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genomlab.workspace.io import GenotypeMatrix
from genomlab.workspace.qc.ancestry import (
    UNASSIGNED,
    compute_pca_with_relateds,
    get_cohort_ancestry,
)
from genomlab.workspace.qc.ancestry_reference import (
    GNOMAD_MIN_PROB,
    GNOMAD_RF_SEED,
    assign_ancestry_from_reference,
    count_informative_pcs,
    get_reference_distance_ratio,
)
from genomlab.workspace.qc.reference import ReferencePca, project_onto_reference

SMALL_GROUP_POLICY = ("cohort-only: members of k-means groups smaller than max(min_group_size, "
                      "small_group_share x cohort) are flagged ancestry_outlier (a distant "
                      "minority is reported, not merged); reference: populations are named, "
                      "samples below min_prob are unassigned and flagged ancestry_outlier")


@dataclass
class AncestryResult:
    """PC scores (``PC1..``, ``projected``), groups, outlier flags, eigenvalues and the record
    of method, reference and status."""

    scores: pd.DataFrame
    groups: pd.Series
    outliers: pd.Series
    eigenvalues: np.ndarray
    provenance: dict[str, Any]


def _group_counts(groups: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in groups.value_counts().sort_index().items()}


def estimate_ancestry(gm: GenotypeMatrix, qc_gm: GenotypeMatrix, unrelated: np.ndarray,
                      reference: ReferencePca | None, *, n_pcs: int = 10,
                      min_prob: float = GNOMAD_MIN_PROB, min_samples: int = 50,
                      min_group_size: int = 10, small_group_share: float = 0.05,
                      n_mad: float = 6.0, max_outlier_share: float = 0.10,
                      min_reference_overlap: float = 0.5,
                      judged: np.ndarray | None = None) -> AncestryResult:
    """Ancestry groups and outliers of the samples of ``gm``.

    Parameters
    ----------
    gm
        Genotype-filtered calls (projected onto the reference loadings).
    qc_gm, unrelated
        QC variants and the unrelated-sample mask of the cohort-only fallback.
    reference
        The labelled reference, or None for the fallback.
    judged
        Samples that may be flagged (default all): hard-filtered samples are not judged.
    n_pcs, min_prob, min_samples, min_group_size, small_group_share, n_mad, max_outlier_share
        Thresholds, see :class:`.pipeline.QcThresholds` and :func:`.ancestry.get_cohort_ancestry`.
    min_reference_overlap
        Least share of the reference variants present in ``gm``; below it the cohort-only
        fallback runs and the record says why (``reference_refused``).

    Examples
    --------
    Without a reference, 36 samples are too few to judge:

    >>> rng = np.random.default_rng(0)
    >>> gm = GenotypeMatrix.from_counts(rng.binomial(2, 0.3, (300, 36)))
    >>> result = estimate_ancestry(gm, gm, np.ones(36, bool), None)
    >>> result.provenance["method"], int(result.outliers.sum())
    ('cohort', 0)
    """
    refused = None
    if reference is not None:
        scores, overlap = project_onto_reference(gm, reference)
        if overlap < min_reference_overlap:  # an exome/panel cohort, or another genome build
            refused = (f"reference {reference.name}: only {overlap:.0%} of its variants are in "
                       f"the cohort (need {min_reference_overlap:.0%}: an exome or panel "
                       "cohort, or another genome build); cohort-only ancestry instead")
            reference = None
    if reference is None:
        scores, eigenvalues = compute_pca_with_relateds(qc_gm, unrelated, k=n_pcs)
        groups, outliers, status = get_cohort_ancestry(
            scores, min_samples=min_samples, min_group_size=min_group_size,
            small_group_share=small_group_share, n_mad=n_mad,
            max_outlier_share=max_outlier_share)
        record: dict[str, Any] = {"method": "cohort", "reference": None}
        if refused is not None:
            record["reference_refused"] = refused
    else:
        eigenvalues = reference.eigenvalues
        n_pcs = min(n_pcs, count_informative_pcs(eigenvalues, len(reference.scores),
                                                   len(reference.af)))
        assigned = assign_ancestry_from_reference(scores, reference, n_pcs=n_pcs,
                                                  min_prob=min_prob)
        ratio = get_reference_distance_ratio(scores, assigned["ancestry_group"], reference,
                                             n_pcs=n_pcs, n_mad=n_mad)
        far = ratio > 1
        groups = assigned["ancestry_group"].where(~far, UNASSIGNED).rename("ancestry_group")
        outliers = (groups == UNASSIGNED).rename("ancestry_outlier")
        status = (f"assessed: {int(outliers.sum())} samples unassigned ({int(far.sum())} far "
                  "from their population's reference samples)")
        if outliers.mean() > max_outlier_share:
            outliers[:] = False
            status = (f"not flagged: {groups.eq(UNASSIGNED).mean():.0%} of samples unassigned "
                      f"(more than {max_outlier_share:.0%}); the reference does not represent "
                      "this cohort")
        # ``projected`` keeps its meaning in pca_scores.tsv: a related sample (association
        # uses the unrelated ones), although every sample is projected onto the reference.
        scores = scores.assign(projected=~np.asarray(unrelated, dtype=bool)).join(
            assigned.drop(columns="ancestry_group")).join(ratio)
        record = {"method": "reference", "n_pcs_used": n_pcs,
                  "classifier": "gnomad.sample_qc.ancestry.assign_genetic_ancestry_pcs "
                                f"(random forest, 100 trees, seed {GNOMAD_RF_SEED}); unassigned "
                                "beyond median + n_mad MAD of the reference's own distances",
                  "reference": {"name": reference.name, "sha256": reference.sha256,
                                "populations": reference.populations,
                                "n_samples": len(reference.scores),
                                "n_variants": len(reference.af),
                                "variant_overlap": round(overlap, 4)}}
    if judged is not None:
        outliers = outliers & judged
    record |= {"status": status, "small_group_policy": SMALL_GROUP_POLICY,
               "group_counts": _group_counts(groups), "n_outliers": int(outliers.sum())}
    return AncestryResult(scores, groups, outliers, eigenvalues, record)
