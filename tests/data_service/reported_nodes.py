"""Node reports built by hand, for tests of the feasibility index and its audit without Hail.

The data service reads nodes only through :class:`~genomlab.data_service.nodes.GenomeNodeReader`
and :class:`~genomlab.data_service.nodes.ClinicalNodeReader`; these classes serve fixed reports
through that contract, and the index is then built by the real
:func:`~genomlab.data_service.index.build_feasibility_index`.

The clinical world (:func:`make_clinical_world`), per KDK: 120 persons in 12 blocks of 10
(sex female/male x disease type rare/oncological x age band 30-39/40-49/60-69 on
:data:`INDEXED_ON`), so every query over sex, disease type, age band and node is a union of
blocks and differs from any other such query by 0 or at least 10 persons per node. Besides:

- :data:`NARROW_TERMS`: 21 HPO terms, each held by one person (spread over blocks and nodes);
- one person of unknown sex (rare, 40-49) at the first KDK;
- :data:`MOST_RARE_WOMEN_TERM`: held by every rare woman except one at the first KDK.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import polars as pl

from genomlab.data_service.nodes import CLINICAL_ATTRIBUTES, GENOME_ATTRIBUTES, SITE_COLUMNS

INDEXED_ON = date(2026, 11, 1)
KDKS = ("KDKK00001", "KDKTUE005")
BIRTHS = {"30-39": "1992-03", "40-49": "1980-05", "60-69": "1960-02"}
NARROW_TERMS = tuple(f"HP:{i:07d}" for i in range(1, 22))
MOST_RARE_WOMEN_TERM = "HP:0000100"


class ReportedClinicalNode:
    """A KDK that reports a fixed table of clinical datasets."""

    def __init__(self, node_id: str, rows: list[dict[str, Any]]) -> None:
        self.node_id = node_id
        self.rows = rows

    def get_dataset_attributes(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=CLINICAL_ATTRIBUTES, orient="row")

    def read_fields(self, pseudonyms: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        raise NotImplementedError("feasibility reads no fields")


class ReportedGenomeNode:
    """A GRZ that reports fixed genome datasets and allele sites."""

    def __init__(self, node_id: str, datasets: pl.DataFrame, sites: pl.DataFrame) -> None:
        self.node_id = node_id
        self.datasets = datasets.select(list(GENOME_ATTRIBUTES))
        self.sites = sites.select(list(SITE_COLUMNS))

    def get_dataset_attributes(self) -> pl.DataFrame:
        return self.datasets

    def get_site_counts(self) -> pl.DataFrame:
        return self.sites

    def export_cohort_genotypes(self, hl: Any, pseudonyms: Sequence[str]) -> Any:
        raise NotImplementedError("feasibility reads no genotypes")


def _person(node: str, number: int, sex: str | None, disease: str, band: str) -> dict[str, Any]:
    return {"pseudonym": f"{node}-ps{number:04d}", "disease_type": disease,
            "library_type": "wgs", "sex": sex, "birth_date": BIRTHS[band],
            "icd10gm": ["G40.3"], "hpo": []}


def make_clinical_world() -> list[ReportedClinicalNode]:
    """The two KDKs of the module docstring."""
    rows: dict[str, list[dict[str, Any]]] = {node: [] for node in KDKS}
    for node in KDKS:
        for sex in ("female", "male"):
            for disease in ("rare", "oncological"):
                for band in BIRTHS:
                    rows[node] += [_person(node, len(rows[node]), sex, disease, band)
                                   for _ in range(10)]
    for number, term in enumerate(NARROW_TERMS):
        node_rows = rows[KDKS[number % 2]]
        node_rows[(number * 10 + number // 2) % len(node_rows)]["hpo"].append(term)
    first = rows[KDKS[0]]
    first.append(_person(KDKS[0], len(first), None, "rare", "40-49"))
    for node in KDKS:
        women = [r for r in rows[node] if r["sex"] == "female" and r["disease_type"] == "rare"]
        for row in women[1:] if node == KDKS[0] else women:
            row["hpo"].append(MOST_RARE_WOMEN_TERM)
    return [ReportedClinicalNode(node, rows[node]) for node in KDKS]


def count_per_node(nodes: Sequence[ReportedClinicalNode],
                   where: Callable[[dict[str, Any]], bool]) -> dict[str, int]:
    """Persons per KDK for whom ``where`` holds (the expected answer, from the reports)."""
    counts = Counter(node.node_id for node in nodes for row in node.rows if where(row))
    return {node.node_id: counts[node.node_id] for node in nodes}


def make_genome_node(node_id: str = "GRZK00001") -> ReportedGenomeNode:
    """A GRZ with 30 rare WGS datasets and two alleles (12 and 3 carriers)."""
    datasets = pl.DataFrame({"pseudonym": [f"{node_id}-g{i:03d}" for i in range(30)],
                             "disease_type": ["rare"] * 30, "library_type": ["wgs"] * 30})
    sites = pl.DataFrame({"variant": ["chr1:12345:A:C", "chr2:500:G:T"], "n_carriers": [12, 3]})
    return ReportedGenomeNode(node_id, datasets, sites)
