"""The intake state machine a GRZ and a KDK share (``genomlab.node_intake``), on real nodes.

The nodes are the real :class:`GenomeCenter` and :class:`ClinicalNode` with their ledgers and
projections; Prüfberichte go to the real platform through the intake's reporter.
"""

from __future__ import annotations

import pytest

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError
from genomlab.events import SubmittedCaseFields
from genomlab.genome_center.intake import GenomeCenter
from genomlab.node_intake import (
    INTAKE_STATES,
    STEP_STARTS,
    IntakeState,
    NodeIntake,
    check_transition,
    is_due,
)

GRZ, KDK = "GRZK00001", "KDKTUE005"
CASE = SubmittedCaseFields(submitter_id="260840108", submission_date="2026-03-02",
                           submission_type="initial", disease_type="rare", coverage_type="GKV",
                           library_type="wgs")
"""The case fields of the file a node takes in (its Prüfbericht's)."""
FIELDS = {"research_consented": True}
GRZ_FIELDS = {**FIELDS, **CASE.model_dump(exclude={"submission_date"}),
              "submission_month": "2026-03", "submission_id": "S-1",
              "genomic_study_type": "single", "genomic_study_subtype": "germline-only",
              "n_donors": 1, "submission_size": 1, "warnings": ""}


def _fields(node: NodeIntake) -> dict[str, object]:
    """The validated fields each node kind declares for ``<noun>.validated``."""
    return GRZ_FIELDS if isinstance(node, GenomeCenter) else FIELDS


def _error(node: NodeIntake, field: str, message: str) -> dict[str, str]:
    """An ``<noun>.error`` payload as each node kind declares it (a GRZ names a reason)."""
    reason = {"failure_reason": "validation_error"} if isinstance(node, GenomeCenter) else {}
    return {**reason, "field": field, "message": message}


def _walk(path: list[IntakeState]) -> None:
    previous: IntakeState | None = None
    for state in path:
        check_transition("item", previous, state)
        previous = state


def _event_types(node: NodeIntake) -> list[str]:
    return [event.type for event in node.ledger.events()]


def _stored(node: NodeIntake, key: str) -> None:
    """Move ``key`` to ``stored`` the way the node's own intake does."""
    node.begin(key)
    node.record_validation(key, f"tan-of-{key}", _fields(node), lambda first: {})
    if isinstance(node, GenomeCenter):
        node.advance(key, "pseudonymised", {"donors": [{
            "donor_index": 0, "relation": "index", "genome_pseudonym": f"GDP-{key}",
            "research_consented": True, "mv_consented": True, "library_types": "wgs",
            "store": "consented"}]})
        node.advance(key, "stored")
    else:
        node.advance(key, "pseudonymised", {"clinical_pseudonym": f"CDP-{key}",
                                            "store": "consented"})
        node.ledger.append("record.stored", {"record_ids": [key]}, actor=node.actor)


def test_check_transition__both_node_kinds_paths_are_allowed() -> None:
    _walk(["received", "validated", "pseudonymised", "stored", "reported", "qc_selected",
           "finished"])
    _walk(["received", "validated", "pseudonymised", "stored", "reported", "finished"])
    for before in ("received", "validated", "pseudonymised", "stored"):
        check_transition("item", before, "error")


@pytest.mark.parametrize(("current", "target"), [
    (None, "validated"), ("received", "stored"), ("validated", "reported"),
    ("error", "validated"), ("error", "received"), ("finished", "error"),
    ("reported", "error"), ("qc_selected", "reported"), ("stored", "received"),
])
def test_check_transition__skipping_going_back_or_leaving_a_final_state_is_refused(
        current: IntakeState | None, target: IntakeState) -> None:
    with pytest.raises(ConflictError, match=f"item: cannot move from {current or 'nothing'} "
                                            f"to {target}"):
        check_transition("item", current, target)


def test_is_due__a_rerun_resumes_each_item_at_its_own_step() -> None:
    due = {state: [step for step in STEP_STARTS if is_due(state, step)]
           for state in (None, *INTAKE_STATES)}
    assert due == {None: [], "received": ["validate"], "validated": ["pseudonymise"],
                   "pseudonymised": ["store"], "stored": ["report"], "reported": ["finish"],
                   "qc_selected": [], "finished": [], "error": []}


@pytest.mark.parametrize("node_class", [GenomeCenter, ClinicalNode])
def test_begin__records_received_once_and_returns_the_state(
        config: GenomlabConfig, node_class: type[NodeIntake]) -> None:
    node = node_class(config, GRZ if node_class is GenomeCenter else KDK)
    assert node.begin("item-1") == "received"
    assert node.begin("item-1") == "received"
    assert _event_types(node) == [f"{node.noun}.received"]
    node.advance("item-1", "error", _error(node, "x", "bad"))
    assert node.begin("item-1") == "error"
    assert [e.stream for e in node.ledger.events()] == [f"{node.noun}:item-1"] * 2


@pytest.mark.parametrize("node_class", [GenomeCenter, ClinicalNode])
def test_advance__a_skipped_state_is_refused_and_records_nothing(
        config: GenomlabConfig, node_class: type[NodeIntake]) -> None:
    node = node_class(config, GRZ if node_class is GenomeCenter else KDK)
    node.begin("item-1")
    with pytest.raises(ConflictError, match="item-1: cannot move from received to stored"):
        node.advance("item-1", "stored")
    with pytest.raises(ConflictError, match="item-2: cannot move from nothing to validated"):
        node.advance("item-2", "validated", {"fields": {}})
    assert _event_types(node) == [f"{node.noun}.received"]
    assert node.get_state("item-1") == "received"
    assert node.get_state("item-2") is None


@pytest.mark.parametrize("node_class", [GenomeCenter, ClinicalNode])
def test_record_validation__a_reused_tan_is_an_error_naming_the_first_item(
        config: GenomlabConfig, node_class: type[NodeIntake]) -> None:
    node = node_class(config, GRZ if node_class is GenomeCenter else KDK)
    for key in ("first", "second"):
        node.begin(key)
    assert node.record_validation("first", "same-hash", _fields(node), lambda first: {})
    reused = node.record_validation(
        "second", "same-hash", _fields(node),
        lambda first: _error(node, "tan", f"already used by {first}"))
    assert reused is False
    rows = {row[node.key]: row for row in node.list_items()}
    assert (rows["first"]["state"], rows["second"]["state"]) == ("validated", "error")
    assert rows["second"]["failure_message"] == "already used by first"
    assert rows["first"]["tan_hash"] == "same-hash"


def test_record_validation__a_tan_of_a_failed_item_may_come_again(
        config: GenomlabConfig) -> None:
    node = ClinicalNode(config, KDK)
    node.begin("rejected")
    assert node.record_validation("rejected", "hash", FIELDS, lambda first: {})
    node.advance("rejected", "error", {"field": "case", "message": "unreadable on resume"})
    node.begin("corrected")
    node.record_validation("corrected", "hash", FIELDS,
                           lambda first: {"field": "tanC", "message": f"used by {first}"})
    assert node.get_state("corrected") == "validated"


def test_intake_lock__a_second_run_on_the_same_node_is_refused(config: GenomlabConfig) -> None:
    first, second = GenomeCenter(config, GRZ), GenomeCenter(config, GRZ)
    with first.intake_lock():
        with (pytest.raises(ConflictError, match=f"grz {GRZ}: another intake is running"),
              second.intake_lock()):
            pass
        with ClinicalNode(config, KDK).intake_lock():  # another node runs meanwhile
            pass
    with second.intake_lock():
        pass


def test_report__a_kdk_record_finishes_a_grz_submission_waits_for_sampling(
        config: GenomlabConfig) -> None:
    from genomlab.intake import make_platform_reporter
    from genomlab.platform.nodes import NodeRegistry, open_registry_ledger

    registry = NodeRegistry(config)
    nodes: list[NodeIntake] = [GenomeCenter(config, GRZ), ClinicalNode(config, KDK)]
    for node, tan in zip(nodes, ("ab" * 32, "cd" * 32), strict=True):
        registry.ensure_approved(node.node_id, name=f"test {node.node_id}", actor="admin")
        _stored(node, "item-1")
        for _ in range(2):  # the second run finds nothing due
            node.report("item-1", tan, CASE, make_platform_reporter(config, node.node_id))
    grz, kdk = nodes
    assert grz.get_state("item-1") == "reported"
    assert kdk.get_state("item-1") == "finished"
    assert _event_types(grz).count("submission.reported") == 1
    assert _event_types(kdk)[-2:] == ["record.reported", "record.finished"]
    assert _event_types(kdk).count("record.reported") == 1
    confirmed = [e.payload for e in open_registry_ledger(config).events()
                 if e.type == "pruefbericht.confirmed"]
    assert [(c["node_id"], c["data_category"], c["qc_passed"]) for c in confirmed] == [
        (GRZ, "genomic", True), (KDK, "clinical", True)]
    assert {c["submission_date"] for c in confirmed} == {"2026-03-02"}  # the file's, exact


def test_record_validation__a_grz_records_the_month_not_both_month_and_day(
        config: GenomlabConfig) -> None:
    from genomlab.errors import EventRefused

    node = GenomeCenter(config, GRZ)
    node.begin("item-1")
    for fields in ({**GRZ_FIELDS, "submission_date": "2026-03-02"},
                   {k: v for k, v in GRZ_FIELDS.items() if k != "submission_month"}):
        with pytest.raises(EventRefused, match="needs submission_month"):
            node.record_validation("item-1", "hash", fields, lambda first: {})
    assert node.get_state("item-1") == "received"
