"""Revision 0005: node stores of an older home lose their cross-node join keys (issue 21).

Each test records a node's validation with the payload older code wrote (the exact submission
date, the KDK's case fields), puts the node's table back into its revision-0004 shape with the
row older code projected, upgrades the store and checks the row, the projection and the events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, String, Table, insert, inspect, text

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.store import PROJECTION as KDK_PROJECTION
from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from genomlab.genome_center.store import PROJECTION as GRZ_PROJECTION
from genomlab.ledger import projection_matches
from genomlab.migrations import get_head_revision, upgrade_store
from genomlab.node_intake import NodeIntake

CASE = {"submitter_id": "260840108", "submission_date": "2026-03-02", "submission_type": "initial",
        "disease_type": "rare", "coverage_type": "GKV", "library_type": "wgs"}
"""The case fields as revision-0004 code recorded them in ``<noun>.validated``."""


def _put_back_revision_0004(node: NodeIntake, old_columns: list[Column[Any]],
                            dropped: set[str]) -> None:
    """Stamp the store 0004 and replace the node's item table by its 0004 shape holding the
    row the 0004 projection wrote."""
    upgrade_store(node.institution.store_url, node.intake_kind.kind, "0004")
    [row] = node.list_items()
    old_row = {k: v for k, v in row.items() if k not in dropped} | CASE
    shape = Table(node.items.name, MetaData(),
                  *[c._copy() for c in node.items.columns if c.name not in dropped],
                  *old_columns)
    with node.ledger.engine.begin() as conn:
        node.items.drop(conn)
        shape.create(conn)
        conn.execute(insert(shape).values(old_row))


def _columns(node: NodeIntake) -> set[str]:
    return {c["name"] for c in inspect(node.ledger.engine).get_columns(node.items.name)}


def _indexes(node: NodeIntake) -> set[str]:
    return {i["name"] for i in inspect(node.ledger.engine).get_indexes(node.items.name)}


def test_upgrade_store__0005_keeps_a_grz_submission_date_to_its_month(
        config: GenomlabConfig) -> None:
    node = GenomeCenter(config, "GRZK00001")
    node.begin("sub-1")
    node.record_validation("sub-1", "tan-hash", {
        **CASE, "submission_id": "S-1", "genomic_study_type": "single",
        "genomic_study_subtype": "germline-only", "n_donors": 1, "research_consented": True,
        "submission_size": 1, "warnings": ""}, lambda first: {})
    before = [(e.seq, e.hash) for e in node.ledger.events()]
    _put_back_revision_0004(node, [Column("submission_date", String(10))], {"submission_month"})
    with node.ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT submission_date FROM grz_submissions")).scalar() == (
            "2026-03-02")

    assert upgrade_store(node.institution.store_url, "grz") == ("0004", get_head_revision())
    assert "submission_date" not in _columns(node)
    assert _indexes(node) == {str(i.name) for i in node.items.indexes}
    [row] = node.list_items()
    assert (row["submission_month"], row["state"], row["disease_type"]) == (
        "2026-03", "validated", "rare")
    assert projection_matches(node.ledger, GRZ_PROJECTION) == []
    assert [(e.seq, e.hash) for e in node.ledger.events()] == before  # events untouched


def test_upgrade_store__0005_drops_a_kdk_records_case_fields(config: GenomlabConfig) -> None:
    node = ClinicalNode(config, "KDKTUE005")
    node.begin("rec-1", {"source_digest": "0" * 64})
    node.record_validation("rec-1", "tan-hash", {**CASE, "research_consented": True},
                           lambda first: {})
    _put_back_revision_0004(node, [Column(name, String(20)) for name in CASE], set())
    assert set(CASE) <= _columns(node)

    assert upgrade_store(node.institution.store_url, "kdk") == ("0004", get_head_revision())
    assert not set(CASE) & _columns(node)
    assert _indexes(node) == {str(i.name) for i in node.items.indexes}
    [row] = node.list_items()
    assert (row["record_id"], row["state"], row["research_consented"], row["source_digest"]) == (
        "rec-1", "validated", True, "0" * 64)
    assert projection_matches(node.ledger, KDK_PROJECTION) == []
    [validated] = node.ledger.events(type="record.validated")
    assert validated.payload["fields"]["submission_date"] == "2026-03-02"  # older events keep it
