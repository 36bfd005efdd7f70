"""A GRZ's store on the engine under test: the world's rejected submissions, without Hail.

A submission that fails validation never reaches the genotype store, so its intake needs no
Spark, yet it goes through the GRZ's ledger and tables and the platform's confirmation. These
tests run in both passes of ``make test`` (SQLite, and PostgreSQL schemas under
``PYTEST_POSTGRES``); the accepted submissions are covered by the Hail tests of
``test_world_intake.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from genomlab.genome_center.store import PROJECTION
from genomlab.intake import register_world_nodes, run_grz_intake
from genomlab.ledger import projection_matches
from genomlab.platform.confirmations import (
    get_confirmation_public_key_pem,
    verify_confirmation_bytes,
)
from tests.genome_center.conftest import EXPECTED_REASON, get_any_donor_field


def _refuse_hail() -> Any:
    raise AssertionError("a rejected submission must not start Hail")


@pytest.fixture
def rejected(config: GenomlabConfig, world_copy: Path) -> list[dict[str, Any]]:
    """The bad submissions of ``truth.json`` that fail on their own, each with its GRZ.

    (A reused tanG is refused only after its original was accepted, which needs Hail.)
    """
    truth = json.loads((world_copy / "truth.json").read_text())
    register_world_nodes(config, world_copy, actor="test")
    grz_of = {s["submission_id"]: s["grz"] for s in truth["submissions"]}
    return [{**bad, "grz": grz_of[bad["derived_from"]]} for bad in truth["bad_submissions"]
            if bad["reason"] != "reused_tanG"]


def _submit(config: GenomlabConfig, world: Path, rejected: list[dict[str, Any]]
            ) -> dict[str, str]:
    """Each submission to its GRZ's inbox; the final state per inbox id."""
    states: dict[str, str] = {}
    for entry in rejected:
        summaries = run_grz_intake(config, [world / entry["path"]], node_id=entry["grz"],
                                   hail=_refuse_hail, progress=lambda _msg: None)
        states.update(summaries[entry["grz"]].states)
    return states


def test_grz_intake__rejections_stored_with_reason_field_and_no_donor(
        config: GenomlabConfig, world_copy: Path, rejected: list[dict[str, Any]]) -> None:
    assert len(rejected) == 3
    states = _submit(config, world_copy, rejected)
    assert states == {Path(entry["path"]).name: "error" for entry in rejected}
    for entry in rejected:
        grz = GenomeCenter(config, entry["grz"])
        row = next(r for r in grz.get_submissions() if r["inbox_id"] == Path(entry["path"]).name)
        assert row["failure_reason"] == EXPECTED_REASON[entry["reason"]], entry
        assert get_any_donor_field(row["failure_field"]) == get_any_donor_field(entry["field"])
        assert grz.get_donors() == []  # nothing was pseudonymised
        assert grz.ledger.verify(full=True).ok
        assert projection_matches(grz.ledger, PROJECTION) == []


def test_grz_intake__each_rejection_confirmed_once_as_incomplete(
        config: GenomlabConfig, world_copy: Path, rejected: list[dict[str, Any]]) -> None:
    _submit(config, world_copy, rejected)
    heads = {entry["grz"]: GenomeCenter(config, entry["grz"]).ledger.head() for entry in rejected}
    assert set(_submit(config, world_copy, rejected).values()) == {"error"}
    assert {grz: GenomeCenter(config, grz).ledger.head() for grz in heads} == heads
    pem = get_confirmation_public_key_pem(config)
    bodies = [verify_confirmation_bytes(path.read_bytes(), pem) for path in
              sorted((config.home / "hospitals").glob("*/meldebestaetigungen/*.json"))]
    assert [body["complete"] for body in bodies] == [False] * len(rejected)
    confirmed = {row["confirmation_id"] for grz in heads
                 for row in GenomeCenter(config, grz).get_submissions()}
    assert confirmed == {body["confirmation_id"] for body in bodies}
