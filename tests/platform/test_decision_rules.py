"""Committee votes count toward a quorum; a DUO mismatch blocks approval without an override."""

from __future__ import annotations

import pytest

from genomlab.config import GenomlabConfig
from genomlab.dashboards.approvals import detail_html
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.ledger import projection_matches
from genomlab.platform.applications import Workflow, get_signed_approval
from genomlab.platform.applications.projection import PROJECTION
from genomlab.platform.applications.queries import get_application_detail
from genomlab.platform.store import open_platform_ledger
from tests.conftest import config_for
from tests.platform.conftest import Clock, World, populate

OVERRIDE = "Quality assurance of the WGS pipeline needs these genomes; BfArM legal agreed."
QA_GRU = {"purposes": ("quality_assurance",), "duo_permission": "GRU", "disease": None}
"""A quality-assurance purpose asking for GRU: broader than the HMB genomes (grz-wgs), so that
dataset's verdict is ``blocked``; no research consent is needed for quality assurance."""


def _head(world: World) -> tuple[int, str]:
    return open_platform_ledger(world.config).head()


def _approved_event(world: World, app: str) -> dict:
    return next(e.payload for e in open_platform_ledger(world.config).events(
        type="application.approved") if e.payload["application_id"] == app)


def _in_review(world: World) -> str:
    app = world.under_review()
    world.wf.request_committee_review("hanna", app)
    return app


def test_approve__requested_review_without_votes_is_below_quorum(world: World) -> None:
    app = _in_review(world)
    head = _head(world)
    with pytest.raises(ConflictError, match=f"approve {app}: committee quorum not reached "
                                            r"\(0 of 1 votes\)"):
        world.wf.approve("dora", app)
    assert _head(world) == head
    with pytest.raises(NotFoundError):
        get_signed_approval(world.config, app)


def test_approve__configured_quorum_counts_every_vote_and_records_the_tally(
        config: GenomlabConfig) -> None:
    quorum2 = config_for(config.home, GENOMLAB_REVIEW__COMMITTEE_QUORUM="2")
    assert quorum2.review.committee_quorum == 2
    wf = Workflow(quorum2, clock=Clock())
    populate(wf)
    world = World(quorum2, Clock(), wf)
    app = _in_review(world)
    wf.record_vote("kurt", app, "reject", "The cohort is too small for the question.")
    with pytest.raises(ConflictError, match=r"\(1 of 2 votes\)"):
        wf.approve("dora", app)
    wf.record_vote("klara", app, "abstain")  # an abstention takes part: quorum reached
    wf.approve("dora", app)
    assert _approved_event(world, app)["committee_votes"] == {"approve": 0, "reject": 1,
                                                             "abstain": 1}
    timeline = [h for h in get_application_detail(quorum2, app).history
                if h["type"] == "approved"]
    assert timeline[0]["detail"]["committee_votes"]["reject"] == 1


def test_approve__without_requested_review_needs_no_votes(world: World) -> None:
    app = world.under_review()
    world.wf.approve("dora", app)
    assert "committee_votes" not in _approved_event(world, app)


def test_approve__duo_mismatch_blocks_without_override_reason(world: World) -> None:
    app = world.under_review(**QA_GRU)
    head = _head(world)
    for reason in (None, "ok"):
        with pytest.raises(ValidationFailed, match="duo_override_reason: DUO mismatch blocks "
                                                   "grz-wgs"):
            world.wf.approve("dora", app, duo_override_reason=reason)
    assert _head(world) == head


def test_approve__duo_override_reason_recorded_and_shown_in_case_file(world: World) -> None:
    app = world.under_review(**QA_GRU)
    world.wf.approve("dora", app, duo_override_reason=OVERRIDE)
    assert _approved_event(world, app)["duo_override_reason"] == OVERRIDE
    detail = get_application_detail(world.config, app)
    assert [h["detail"].get("duo_override_reason") for h in detail.history
            if h["type"] == "approved"] == [OVERRIDE]
    assert OVERRIDE in detail_html(detail)
    assert projection_matches(world.wf.ledger, PROJECTION) == []


def test_approve__rejected_blocked_dataset_needs_no_override(world: World) -> None:
    app = world.under_review(**QA_GRU)
    world.wf.decide_dataset("dora", app, "grz-wgs", "reject", "DUO: genomes are HMB only")
    document = world.wf.approve("dora", app)
    assert document.body["data_categories"] == ["clinical"]
    assert "duo_override_reason" not in _approved_event(world, app)


def test_approve__purpose_beyond_research_consent_cannot_be_overridden(world: World) -> None:
    app = world.under_review(duo_permission="GRU", disease=None)  # research beyond HMB consent
    head = _head(world)
    with pytest.raises(PermissionDenied, match="exceeds the research consent"):
        world.wf.approve("dora", app, duo_override_reason=OVERRIDE)
    assert _head(world) == head
