"""Which datasets meet an approval's cohort criteria, and which linked persons form the cohort.

Before linkage, each side is filtered by what it holds (:func:`filter_datasets`): the genome
side by disease type and library type; the clinical side by all criteria (sex, ICD-10-GM prefix
and HPO term included). A criterion only the clinical side holds excludes persons without a
clinical dataset (e.g. sequenced parents). The trust centre then links the candidates of both
sides (and drops persons without research consent); :func:`select_cohort_rows` keeps the linked
persons whose datasets met the criteria on every side that the criteria and the approved data
categories need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from genomlab.data_service.nodes import (
    CLINICAL_ATTRIBUTES,
    GENOME_ATTRIBUTES,
    ClinicalNodeReader,
    GenomeNodeReader,
    check_columns,
)
from genomlab.errors import PermissionDenied
from genomlab.messages import ApprovalGrant, CohortCriteria

CLINICAL_ONLY_CRITERIA = ("sexes", "icd10gm_prefixes", "hpo_terms")
_COLUMN = {"disease_types": "disease_type", "library_types": "library_type"}


def filter_datasets(attributes: pl.DataFrame, criteria: CohortCriteria, *,
                    side: str) -> pl.DataFrame:
    """The rows of a node's dataset attributes that meet the criteria this side can judge.

    Examples
    --------
    >>> frame = pl.DataFrame({"pseudonym": ["G1", "G2"], "disease_type": ["rare", "oncological"],
    ...                       "library_type": ["wgs", "wgs"]})
    >>> rare = CohortCriteria(disease_types=("rare",))
    >>> filter_datasets(frame, rare, side="genomic")["pseudonym"].to_list()
    ['G1']
    """
    keep = pl.lit(True)
    for name, column in _COLUMN.items():
        values = getattr(criteria, name)
        if values:
            keep &= pl.col(column).is_in(list(values))
    if side == "clinical":
        if criteria.sexes:
            keep &= pl.col("sex").is_in(list(criteria.sexes))
        if criteria.icd10gm_prefixes:
            prefixes = [p.upper() for p in criteria.icd10gm_prefixes]
            keep &= pl.col("icd10gm").list.eval(
                pl.any_horizontal(pl.element().str.starts_with(p) for p in prefixes)).list.any()
        if criteria.hpo_terms:
            keep &= pl.col("hpo").list.eval(pl.element().is_in(list(criteria.hpo_terms))
                                            ).list.any()
    return attributes.filter(keep.fill_null(False))


def needs_clinical_match(criteria: CohortCriteria) -> bool:
    """Whether the criteria name something only the clinical nodes hold (sex, ICD-10, HPO)."""
    return any(getattr(criteria, name) for name in CLINICAL_ONLY_CRITERIA)


def check_selectable(criteria: CohortCriteria, categories: Sequence[str],
                     application_id: str) -> None:
    """Refuse criteria that cannot be judged with the approved data categories."""
    if needs_clinical_match(criteria) and "clinical" not in categories:
        raise PermissionDenied(f"approval {application_id}: sex/ICD-10-GM/HPO criteria need "
                               "the clinical data category, which is not approved")


def select_cohort_rows(genome: np.ndarray, clinical: np.ndarray, *, genome_matches: set[str],
                       clinical_matches: set[str], criteria: CohortCriteria,
                       categories: Sequence[str]) -> np.ndarray:
    """Boolean mask over linkage-map rows: the persons that form the cohort.

    A row counts if its genome dataset met the genome-side criteria (when genomic data are
    approved) and its clinical dataset met the clinical criteria (when clinical data are the only
    category or the criteria need a clinical match).

    Examples
    --------
    >>> rows = select_cohort_rows(np.array(["G1", "G2"]), np.array(["K1", ""]),
    ...                           genome_matches={"G1", "G2"}, clinical_matches={"K1"},
    ...                           criteria=CohortCriteria(hpo_terms=("HP:0001250",)),
    ...                           categories=("genomic", "clinical"))
    >>> rows.tolist()
    [True, False]
    """
    keep = np.ones(len(genome), dtype=bool)
    if "genomic" in categories:
        keep &= np.isin(genome, list(genome_matches))
    if "genomic" not in categories or needs_clinical_match(criteria):
        keep &= np.isin(clinical, list(clinical_matches))
    return keep


def get_node_attributes(nodes: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    """Every node's dataset attributes (contract columns checked) plus its ``node`` id."""
    frames = [check_columns(n.get_dataset_attributes(), schema, f"{n.node_id} datasets")
              .with_columns(node=pl.lit(n.node_id)) for n in nodes]
    return pl.concat(frames) if frames else pl.DataFrame(schema={**schema, "node": pl.String})


def compute_cohort_mask(grant: ApprovalGrant, genome: np.ndarray, clinical: np.ndarray, *,
                        genome_nodes: Sequence[GenomeNodeReader],
                        clinical_nodes: Sequence[ClinicalNodeReader]) -> np.ndarray:
    """Boolean mask over linkage rows: the persons ``grant``'s criteria select, judged on the
    nodes' dataset attributes (what the trust centre applies before it issues a map).

    ``genome``/``clinical`` are the rows' dataset pseudonyms (text or bytes, empty if absent).
    """
    categories = grant.data_categories
    check_selectable(grant.criteria, categories, grant.application_id)
    genome_matches = filter_datasets(get_node_attributes(genome_nodes, GENOME_ATTRIBUTES),
                                     grant.criteria, side="genomic")
    clinical_matches = filter_datasets(get_node_attributes(clinical_nodes,
                                                           CLINICAL_ATTRIBUTES),
                                       grant.criteria, side="clinical")
    return select_cohort_rows(np.asarray(genome).astype(str), np.asarray(clinical).astype(str),
                              genome_matches=set(genome_matches["pseudonym"].to_list()),
                              clinical_matches=set(clinical_matches["pseudonym"].to_list()),
                              criteria=grant.criteria, categories=categories)
