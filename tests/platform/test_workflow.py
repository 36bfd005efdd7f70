"""Every transition and every refusal of the application workflow."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.keys import load_public_key
from genomlab.ledger import projection_matches
from genomlab.messages import APPROVAL_KIND, REVOCATION_KIND, ApprovalGrant, verify_document
from genomlab.platform.applications import (
    Role,
    get_active_entitlements,
    get_approval_public_key_path,
    get_signed_approval,
    get_signed_revocation,
    get_team,
    get_user_institution,
    get_user_roles,
    is_entitled,
)
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.projection import PROJECTION
from genomlab.platform.applications.queries import get_application_detail
from genomlab.platform.applications.store import read_platform
from tests.platform.conftest import World, make_form


def _status(world: World, app: str) -> str:
    return get_application_detail(world.config, app).row["status"]


def _approval_key(world: World):
    with open(get_approval_public_key_path(world.config), "rb") as handle:
        return load_public_key(handle.read())


# --- users and roles ------------------------------------------------------------------------

def test_bootstrap_admin__second_time_is_refused(world: World) -> None:
    with pytest.raises(PermissionDenied, match="already has an admin"):
        world.wf.bootstrap_admin("mallory", institution="Nowhere")
    assert get_user_roles(world.config, "mallory") == frozenset()


def test_grant_role__by_non_admin_is_refused(world: World) -> None:
    with pytest.raises(PermissionDenied, match="hanna needs the role admin"):
        world.wf.grant_role("hanna", "alice", Role.DECIDER)
    assert get_user_roles(world.config, "alice") == frozenset()


def test_grant_role__twice_conflicts_and_withdraw_removes(world: World) -> None:
    with pytest.raises(ConflictError, match="already has the role handler"):
        world.wf.grant_role("root", "hanna", Role.HANDLER)
    world.wf.withdraw_role("root", "hanna", Role.HANDLER)
    assert get_user_roles(world.config, "hanna") == frozenset({Role.OUTPUT_CHECKER})
    with pytest.raises(ConflictError, match="does not have the role"):
        world.wf.withdraw_role("root", "hanna", Role.HANDLER)


def test_register_user__duplicate_conflicts(world: World) -> None:
    with pytest.raises(ConflictError, match="alice is already registered"):
        world.wf.register_user("root", "alice", institution="Elsewhere")
    assert get_user_institution(world.config, "alice") == "Uni Tübingen"


# --- applicant -------------------------------------------------------------------------------

def test_create_draft__unregistered_user_is_refused(world: World) -> None:
    with pytest.raises(PermissionDenied, match="mallory is not a registered platform user"):
        world.wf.create_draft("mallory", make_form())


def test_submit__assigns_project_id_and_team(world: World) -> None:
    app = world.wf.create_draft("alice", make_form())
    assert _status(world, app) == "draft"
    project = world.wf.submit("alice", app)
    assert project == "GDE-2026-0001"
    assert _status(world, app) == "submitted"
    assert get_team(world.config, project) == ("alice", "tom")
    second = world.submitted()
    assert get_application_detail(world.config, second).row["project_id"] == "GDE-2026-0002"


def test_submit__without_accepted_terms_is_refused(world: World) -> None:
    app = world.wf.create_draft("alice", make_form(accepted_terms=None))
    with pytest.raises(ValidationFailed, match="accepted_terms"):
        world.wf.submit("alice", app)
    assert _status(world, app) == "draft"


def test_submit__individual_level_needs_justification(world: World) -> None:
    app = world.wf.create_draft("alice", make_form(level="individual",
                                                   individual_justification="because"))
    with pytest.raises(ValidationFailed, match="individual_justification"):
        world.wf.submit("alice", app)


def test_submit__research_without_ethics_vote_is_refused(world: World) -> None:
    app = world.wf.create_draft("alice", make_form(ethics_vote_reference=None))
    with pytest.raises(ValidationFailed, match="ethics_vote_reference"):
        world.wf.submit("alice", app)


def test_submit__unregistered_team_member_is_refused(world: World) -> None:
    app = world.wf.create_draft("alice", make_form(team=("tom", "ghost")))
    with pytest.raises(ValidationFailed, match="team: ghost is not a registered"):
        world.wf.submit("alice", app)


def test_submit__by_someone_else_is_refused(world: World) -> None:
    app = world.wf.create_draft("alice", make_form())
    with pytest.raises(PermissionDenied, match="only the applicant alice"):
        world.wf.submit("tom", app)


def test_edit__after_submission_conflicts(world: World) -> None:
    app = world.submitted()
    with pytest.raises(ConflictError, match="is submitted; needs draft or returned"):
        world.wf.edit("alice", app, make_form(title="Another title"))


def test_unknown_application__is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError, match="APP-999999 not found"):
        world.wf.assign_handler("hanna", "APP-999999")


# --- handler ---------------------------------------------------------------------------------

def test_assign_handler__starts_review(world: World) -> None:
    app = world.submitted()
    world.wf.assign_handler("hanna", app)
    row = get_application_detail(world.config, app).row
    assert (row["status"], row["handler"]) == ("under_review", "hanna")


def test_assign_handler__wrong_role_is_refused(world: World) -> None:
    app = world.submitted()
    with pytest.raises(PermissionDenied, match="kurt needs the role handler"):
        world.wf.assign_handler("kurt", app)
    assert _status(world, app) == "submitted"


def test_assign_handler__same_institution_is_conflict_of_interest(world: World) -> None:
    app = world.submitted()
    with pytest.raises(PermissionDenied, match="conflict of interest: ute belongs to Uni Tübingen"):
        world.wf.assign_handler("ute", app)
    with pytest.raises(PermissionDenied, match="conflict of interest: ute"):
        world.wf.assign_handler("hanna", app, handler="ute")


def test_return__missing_reason_is_refused(world: World) -> None:
    app = world.under_review()
    with pytest.raises(ValidationFailed, match="reason: return needs a reason"):
        world.wf.return_application("hanna", app, "  ")
    assert _status(world, app) == "under_review"


def test_return_and_resubmit__records_changed_fields(world: World) -> None:
    app = world.under_review()
    world.wf.return_application("hanna", app, "Please narrow the clinical fields.")
    assert _status(world, app) == "returned"
    world.wf.edit("alice", app, make_form(clinical_fields=("diagnosis",)))
    project = world.wf.submit("alice", app)
    row = get_application_detail(world.config, app).row
    assert (row["status"], row["changed_fields"], row["project_id"]) == (
        "submitted", "clinical_fields", project)


def test_request_review__twice_conflicts(world: World) -> None:
    app = world.under_review()
    world.wf.request_committee_review("hanna", app, note="Please assess necessity.")
    assert get_application_detail(world.config, app).row["review_requested"] is True
    with pytest.raises(ConflictError, match="already requested"):
        world.wf.request_committee_review("hanna", app)


def test_request_review__before_assignment_conflicts(world: World) -> None:
    app = world.submitted()
    with pytest.raises(ConflictError, match="is submitted; needs under_review"):
        world.wf.request_committee_review("hanna", app)


# --- committee -------------------------------------------------------------------------------

def test_vote__recorded_and_counted(world: World) -> None:
    app = world.under_review()
    world.wf.request_committee_review("hanna", app)
    world.wf.record_vote("kurt", app, "approve", "Necessary and proportionate.")
    world.wf.record_vote("klara", app, "reject", "Clinical fields are too broad.")
    detail = get_application_detail(world.config, app)
    assert detail.row["n_votes"] == 2
    assert {(v["voter"], v["vote"]) for v in detail.votes} == {("kurt", "approve"),
                                                               ("klara", "reject")}


def test_vote__refusals(world: World) -> None:
    app = world.under_review()
    with pytest.raises(ConflictError, match="no committee review"):
        world.wf.record_vote("kurt", app, "approve")
    world.wf.request_committee_review("hanna", app)
    with pytest.raises(PermissionDenied, match="hanna needs the role committee"):
        world.wf.record_vote("hanna", app, "approve")
    with pytest.raises(PermissionDenied, match="conflict of interest"):
        world.wf.record_vote("ute", app, "approve")
    with pytest.raises(ValidationFailed, match="a vote to reject needs a reason"):
        world.wf.record_vote("kurt", app, "reject", "")
    world.wf.record_vote("kurt", app, "abstain")
    with pytest.raises(ConflictError, match="kurt has already voted"):
        world.wf.record_vote("kurt", app, "approve")
    assert get_application_detail(world.config, app).row["n_votes"] == 1


# --- decider ---------------------------------------------------------------------------------

def test_approve__signs_a_verifiable_grant_and_entitles_the_team(world: World) -> None:
    app = world.under_review()
    document = world.wf.approve("dora", app)
    assert document == get_signed_approval(world.config, app)
    grant = ApprovalGrant.model_validate(
        verify_document(document, _approval_key(world), kind=APPROVAL_KIND))
    assert grant.project_id == "GDE-2026-0001"
    assert grant.team == ("alice", "tom")
    assert (grant.valid_from, grant.valid_until) == (date(2026, 3, 2), date(2027, 3, 1))
    assert grant.duo_codes == ("DS", "PUB")
    for user in ("alice", "tom"):
        assert is_entitled(world.config, user, "GDE-2026-0001", at=world.clock.now)
    assert not is_entitled(world.config, "bob", "GDE-2026-0001", at=world.clock.now)
    assert [e.project_id for e in get_active_entitlements(world.config, "tom",
                                                          at=world.clock.now)] == [
        "GDE-2026-0001"]


def test_approve__wrong_role_is_refused(world: World) -> None:
    app = world.under_review()
    with pytest.raises(PermissionDenied, match="hanna needs the role decider"):
        world.wf.approve("hanna", app)
    with pytest.raises(NotFoundError):
        get_signed_approval(world.config, app)


def test_approve__own_institution_is_conflict_of_interest(world: World) -> None:
    app = world.under_review()
    with pytest.raises(PermissionDenied, match="conflict of interest: ute belongs to Uni Tübingen"):
        world.wf.approve("ute", app)
    assert _status(world, app) == "under_review"


def test_approve__team_member_institution_is_conflict_of_interest(world: World) -> None:
    world.wf.register_user("root", "uwe", institution="UKE Hamburg")
    world.wf.grant_role("root", "uwe", Role.DECIDER)
    app = world.under_review()  # tom of UKE Hamburg is on the team
    with pytest.raises(PermissionDenied, match="uwe belongs to UKE Hamburg"):
        world.wf.approve("uwe", app)


def test_approve__own_application_is_conflict_of_interest(world: World) -> None:
    world.wf.grant_role("root", "tom", Role.DECIDER)
    app = world.under_review()
    with pytest.raises(PermissionDenied, match="tom is on the team"):
        world.wf.approve("tom", app)


def test_approve__before_review_conflicts(world: World) -> None:
    app = world.submitted()
    with pytest.raises(ConflictError, match="is submitted; needs under_review"):
        world.wf.approve("dora", app)


def test_reject__missing_reason_is_refused_then_rejects(world: World) -> None:
    app = world.under_review()
    with pytest.raises(ValidationFailed, match="reject needs a reason"):
        world.wf.reject("dora", app, "")
    world.wf.reject("dora", app, "The data requested are not necessary for the question.")
    detail = get_application_detail(world.config, app)
    assert (detail.row["status"], detail.row["decided_by"]) == ("rejected", "dora")
    with pytest.raises(ConflictError, match=r"is rejected \(decided by dora"):
        world.wf.approve("dieter", app)


# --- ending ----------------------------------------------------------------------------------

def test_close__applicant_withdraws(world: World) -> None:
    app = world.submitted()
    with pytest.raises(ValidationFailed, match="close needs a reason"):
        world.wf.close("alice", app, "")
    with pytest.raises(PermissionDenied, match="bob needs the role handler"):
        world.wf.close("bob", app, "Not my project anyway.")
    world.wf.close("alice", app, "Project cancelled.")
    assert _status(world, app) == "closed"
    assert get_signed_revocation(world.config, app) is None


def test_close__approved_ends_entitlements(world: World) -> None:
    app = world.approved()
    world.clock.advance(days=10)
    world.wf.close("hanna", app, "Project finished early.")
    assert not is_entitled(world.config, "alice", "GDE-2026-0001", at=world.clock.now)
    assert is_entitled(world.config, "alice", "GDE-2026-0001",
                       at=world.clock.now - timedelta(days=1))  # audit: it held before


def test_revoke__ends_entitlements_at_once_with_signed_revocation(world: World) -> None:
    app = world.approved()
    world.clock.advance(hours=1)
    with pytest.raises(ValidationFailed, match="revoke needs a reason"):
        world.wf.revoke("dieter", app, "")
    with pytest.raises(PermissionDenied, match="hanna needs the role decider or admin"):
        world.wf.revoke("hanna", app, "Data passed on to a third party.")
    world.wf.revoke("dieter", app, "Data passed on to a third party.")
    assert _status(world, app) == "revoked"
    assert not is_entitled(world.config, "tom", "GDE-2026-0001", at=world.clock.now)
    body = verify_document(get_signed_revocation(world.config, app), _approval_key(world),
                           kind=REVOCATION_KIND)
    assert body == {"application_id": app, "project_id": "GDE-2026-0001",
                    "revoked_at": "2026-03-02T10:00:00+00:00"}
    with pytest.raises(ConflictError, match="is revoked"):
        world.wf.revoke("dora", app, "Again, for good measure.")


def test_expiry__entitlement_ends_after_valid_until(world: World) -> None:
    app = world.under_review()
    world.wf.approve("dora", app, valid_until=date(2026, 6, 30))
    last_day = world.clock.now.replace(month=6, day=30, hour=23)
    assert is_entitled(world.config, "alice", "GDE-2026-0001", at=last_day)
    assert not is_entitled(world.config, "alice", "GDE-2026-0001",
                           at=last_day + timedelta(hours=2))
    assert world.wf.expire_due(at=last_day) == []
    world.clock.now = last_day + timedelta(days=1)
    assert world.wf.expire_due() == [app]
    assert _status(world, app) == "expired"
    assert get_signed_revocation(world.config, app) is not None
    assert get_active_entitlements(world.config, "alice", at=world.clock.now) == []
    assert len(get_active_entitlements(world.config, "alice", at=last_day)) == 1  # audit view


def test_add_result__team_member_only_after_approval(world: World) -> None:
    app = world.under_review()
    with pytest.raises(ConflictError, match="is under_review"):
        world.wf.add_result("tom", app, kind="publication", title="Early", reference="doi:1")
    world.wf.approve("dora", app)
    with pytest.raises(PermissionDenied, match="bob is not on the team"):
        world.wf.add_result("bob", app, kind="publication", title="Theirs", reference="doi:2")
    world.wf.add_result("tom", app, kind="publication", title="BRCA1 penetrance",
                        reference="doi:10.1000/xyz")
    assert [r["title"] for r in get_application_detail(world.config, app).results] == [
        "BRCA1 penetrance"]


# --- the projection --------------------------------------------------------------------------

def test_projection__rebuilt_from_ledger_equals_live_state(world: World) -> None:
    first = world.approved()
    world.wf.add_result("alice", first, kind="report", title="Interim", reference="https://x.y")
    world.wf.revoke("dora", first, "Breach of the terms of use.")
    second = world.under_review()
    world.wf.request_committee_review("hanna", second)
    world.wf.record_vote("kurt", second, "approve")
    world.wf.return_application("hanna", second, "Add the ethics vote document.")
    world.wf.edit("alice", second, make_form(title="Revised title"))
    world.wf.submit("alice", second)
    world.wf.reject("dieter", second, "Not within the § 64e purposes.")
    world.wf.withdraw_role("root", "klara", Role.COMMITTEE)
    assert projection_matches(world.wf.ledger, PROJECTION) == []
    with read_platform(world.config) as conn:
        n_history = len(conn.execute(select(t.history)).all())
    assert n_history == len([e for e in world.wf.ledger.events()
                             if e.type.startswith("application.")])
    assert world.wf.ledger.verify().ok


def test_reject__straight_from_submitted(world: World) -> None:
    app = world.submitted()
    world.wf.reject("dora", app, "Outside the purposes of § 64e (9).")
    assert _status(world, app) == "rejected"


def test_close__draft_withdrawn_is_never_public(world: World) -> None:
    from genomlab.platform.applications.register import get_register_page

    app = world.wf.create_draft("alice", make_form())
    world.wf.close("alice", app, "Changed my mind.")
    assert _status(world, app) == "closed"
    assert get_register_page(world.config).total == 0
