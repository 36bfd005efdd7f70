"""The deciders' case file: documents stored with the application, the handler's
recommendation and request for a decision, comments to the applicant."""

from __future__ import annotations

import hashlib

import pytest

from genomlab.dashboards.approvals import detail_html
from genomlab.errors import NotFoundError, PermissionDenied, ValidationFailed
from genomlab.ledger import projection_matches
from genomlab.platform.applications.projection import PROJECTION
from genomlab.platform.applications.queries import get_allowed_actions, get_application_detail
from genomlab.platform.applications.store import open_platform_ledger
from genomlab.platform.applications.workflow import get_attachment_path
from tests.platform.conftest import World

VOTE = b"SYNTHETIC: ethics committee vote, no objections\n"


def test_attach_document__stored_with_the_application_and_listed(world: World) -> None:
    app = world.submitted()
    digest = world.wf.attach_document("alice", app, "ethics_vote", "vote.txt", VOTE)
    assert digest == hashlib.sha256(VOTE).hexdigest()
    assert get_attachment_path(world.config, app, digest, "vote.txt").read_bytes() == VOTE
    with pytest.raises(PermissionDenied):
        world.wf.attach_document("bob", app, "other", "x.txt", b"not his application")
    with pytest.raises(ValidationFailed, match="name: a plain file name"):
        world.wf.attach_document("alice", app, "other", "../escape.txt", b"x")
    detail = get_application_detail(world.config, app)
    [attached] = [h for h in detail.history if h["type"] == "document_attached"]
    assert (attached["actor"], attached["detail"]["kind"], attached["detail"]["size"]) == (
        "alice", "ethics_vote", len(VOTE))
    rendered = detail_html(detail, world.config)
    assert "Ethics committee vote" in rendered
    assert 'download="vote.txt"' in rendered
    assert projection_matches(open_platform_ledger(world.config), PROJECTION) == []


def test_request_decision__only_the_handler_with_a_reason(world: World) -> None:
    app = world.under_review()
    assert "request_decision" in get_allowed_actions(
        world.config, "hanna", get_application_detail(world.config, app))
    with pytest.raises(PermissionDenied):
        world.wf.request_decision("kurt", app, "approve", "committee member, not handler")
    with pytest.raises(ValidationFailed, match="request decision needs a reason"):
        world.wf.request_decision("hanna", app, "approve", "ok")
    with pytest.raises(ValidationFailed, match="recommendation: expected approve or reject"):
        world.wf.request_decision("hanna", app, "maybe", "cannot decide myself")
    world.wf.request_decision("hanna", app, "reject", "No ethics vote attached yet.")
    world.wf.comment_to_applicant("hanna", app, "Please attach the ethics vote.")
    rendered = detail_html(get_application_detail(world.config, app), world.config)
    assert "hanna recommends <b>reject</b>" in rendered
    assert "No ethics vote attached yet." in rendered
    assert "Please attach the ethics vote." in rendered
    assert "no documents attached" in rendered


def test_attach_feasibility__expected_cohort_per_node_in_the_case_file(world: World) -> None:
    app = world.submitted()
    with pytest.raises(PermissionDenied):
        world.wf.attach_feasibility("bob", app, "rare disease", {"GRZK00001": "12"}, "12")
    world.wf.attach_feasibility("alice", app, "rare disease cases",
                                {"KDKK00001": "≥17", "GRZK00001": "12"}, "≥29")
    rendered = detail_html(get_application_detail(world.config, app), world.config)
    table = rendered[rendered.index("<table class='genomlab-feasibility'>"):]
    table = table[:table.index("</table>")]
    assert table.index("GRZK00001</td><td>12") < table.index("KDKK00001</td><td>≥17")
    assert "<b>total</b></td><td><b>≥29</b>" in table
    assert projection_matches(open_platform_ledger(world.config), PROJECTION) == []


def test_decide_dataset__approval_grants_only_datasets_not_rejected(world: World) -> None:
    app = world.under_review()
    with pytest.raises(PermissionDenied):
        world.wf.decide_dataset("hanna", app, "kdk-clinical", "reject", "handler, not decider")
    with pytest.raises(NotFoundError, match=r"requested: grz-wgs, kdk-clinical"):
        world.wf.decide_dataset("dora", app, "nope", "reject", "no such dataset here")
    world.wf.decide_dataset("dora", app, "kdk-clinical", "reject", "Clinical data not needed.")
    world.wf.decide_dataset("dora", app, "grz-wgs", "approve", "Genomes are necessary.")
    rendered = detail_html(get_application_detail(world.config, app), world.config)
    assert "decided: reject by dora — Clinical data not needed." in rendered
    grant = world.wf.approve("dora", app).body
    assert (grant["data_categories"], grant["clinical_fields"]) == (["genomic"], [])


def test_decide_dataset__every_dataset_rejected_cannot_be_approved(world: World) -> None:
    app = world.under_review()
    for dataset in ("grz-wgs", "kdk-clinical"):
        world.wf.decide_dataset("dora", app, dataset, "reject", "Not proportionate.")
    with pytest.raises(ValidationFailed, match="every requested dataset was rejected"):
        world.wf.approve("dora", app)
    assert get_application_detail(world.config, app).row["status"] == "under_review"
