"""Re-identification and case identification: consent scope, two officers, release to the LE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from genomlab.errors import ConflictError, PermissionDenied
from genomlab.ledger import projection_matches
from genomlab.messages import SignedDocument
from genomlab.trust_center.reidentification import (
    approve_reidentification,
    release_case_identification,
    release_reidentification,
    request_reidentification,
)
from genomlab.trust_center.service import TrustCenter
from tests.trust_center.conftest import LE_IK, OTHER_LE_IK, Person, enrol

PROJECT = "GDE-2026-001"


@dataclass
class Setting:
    tc: TrustCenter
    with_scope: Person
    without_scope: Person
    pseudonym: dict[str, str]  # genome pseudonym -> project pseudonym


@pytest.fixture
def setting(tc: TrustCenter, sign_grant: Callable[..., SignedDocument]) -> Setting:
    with_scope, without_scope = enrol(tc, 2)
    for scope in ("reIdentification", "caseIdentification"):
        tc.record_consent(kvnr=with_scope.kvnr, le_ik=LE_IK, scope=scope, decision="permit",
                          actor="le")
    tc.record_consent(kvnr=without_scope.kvnr, le_ik=LE_IK, scope="reIdentification",
                      decision="deny", actor="le")
    for officer in ("olga", "otto", "rita"):
        tc.appoint_officer(officer, actor="tc-head")
    linkage = tc.issue_linkage_map(sign_grant(PROJECT), actor="data_service",
                                   genome_pseudonyms=[with_scope.genome, without_scope.genome])
    return Setting(tc, with_scope, without_scope, {g: p for p, g, _ in linkage.rows()})


def _request(s: Setting, person: Person, kind: str = "reIdentification",
             requester: str = "rita") -> str:
    return request_reidentification(s.tc, project_id=PROJECT,
                                    project_pseudonym=s.pseudonym[person.genome],
                                    reason="pathogenic BRCA2 variant found in project analysis",
                                    kind=kind, requester=requester)  # type: ignore[arg-type]


def _refusals(tc: TrustCenter) -> list[tuple[str, str]]:
    return [(e.payload["step"], e.payload["reason"]) for e in tc.ledger.events(type="reid.refused")]


def test_request_reidentification__without_consent_scope_is_refused(setting: Setting) -> None:
    with pytest.raises(PermissionDenied, match="does not permit reIdentification"):
        _request(setting, setting.without_scope)
    with pytest.raises(PermissionDenied, match="does not permit caseIdentification"):
        _request(setting, setting.without_scope, kind="caseIdentification")
    assert len(list(setting.tc.ledger.events(type="reid.requested"))) == 2
    assert [step for step, _ in _refusals(setting.tc)] == ["request", "request"]


def test_request_reidentification__pseudonym_the_project_never_received_is_refused(
        setting: Setting) -> None:
    with pytest.raises(PermissionDenied, match="never received"):
        request_reidentification(setting.tc, project_id="GDE-OTHER",
                                 project_pseudonym=setting.pseudonym[setting.with_scope.genome],
                                 reason="x", kind="reIdentification", requester="rita")


def test_release_reidentification__one_approval_is_not_enough(setting: Setting) -> None:
    request_id = _request(setting, setting.with_scope)
    assert approve_reidentification(setting.tc, request_id, officer="olga") == 1
    with pytest.raises(PermissionDenied, match="1 of 2 officer approvals"):
        release_reidentification(setting.tc, request_id, le_ik=LE_IK, actor=f"le:{LE_IK}")


def test_approve_reidentification__requester_repeat_and_non_officer_are_refused(
        setting: Setting) -> None:
    request_id = _request(setting, setting.with_scope)
    with pytest.raises(PermissionDenied, match="requester may not approve"):
        approve_reidentification(setting.tc, request_id, officer="rita")
    approve_reidentification(setting.tc, request_id, officer="olga")
    with pytest.raises(PermissionDenied, match="already approved"):
        approve_reidentification(setting.tc, request_id, officer="olga")
    with pytest.raises(PermissionDenied, match="not a trust-centre officer"):
        approve_reidentification(setting.tc, request_id, officer="mallory")
    with pytest.raises(PermissionDenied, match="1 of 2"):
        release_reidentification(setting.tc, request_id, le_ik=LE_IK, actor="le")
    assert [step for step, _ in _refusals(setting.tc)] == ["approval"] * 3 + ["release"]


def test_release_reidentification__only_to_the_treating_le(setting: Setting) -> None:
    request_id = _request(setting, setting.with_scope)
    approve_reidentification(setting.tc, request_id, officer="olga")
    assert approve_reidentification(setting.tc, request_id, officer="otto") == 2
    with pytest.raises(PermissionDenied, match=f"LE {OTHER_LE_IK} is not the treating LE"):
        release_reidentification(setting.tc, request_id, le_ik=OTHER_LE_IK, actor="le")
    result = release_reidentification(setting.tc, request_id, le_ik=LE_IK, actor=f"le:{LE_IK}")
    assert result.arbeitsnummern == (setting.with_scope.arbeitsnummer,)
    assert result.le_ik == LE_IK
    with pytest.raises(ConflictError, match="already released"):
        release_reidentification(setting.tc, request_id, le_ik=LE_IK, actor="le")
    released = list(setting.tc.ledger.events(type="reid.released"))
    assert len(released) == 1
    assert setting.with_scope.arbeitsnummer not in str(released[0].payload)
    steps = [e.type for e in setting.tc.ledger.events(stream=f"reid:{request_id}")]
    assert steps == ["reid.requested", "reid.approved", "reid.approved", "reid.refused",
                     "reid.released"]
    assert projection_matches(setting.tc.ledger, setting.tc.projection) == []
    assert setting.tc.ledger.verify().ok


def test_release_reidentification__case_identification_and_scope_withdrawn_before_release(
        setting: Setting) -> None:
    case_request = _request(setting, setting.with_scope, kind="caseIdentification",
                            requester="dr-requesting-le")
    reid_request = _request(setting, setting.with_scope)
    for request_id in (case_request, reid_request):
        approve_reidentification(setting.tc, request_id, officer="olga")
        approve_reidentification(setting.tc, request_id, officer="otto")
    setting.tc.record_consent(kvnr=setting.with_scope.kvnr, le_ik=LE_IK,
                              scope="reIdentification", decision="deny", actor="le")
    with pytest.raises(PermissionDenied, match="no longer permits reIdentification"):
        release_reidentification(setting.tc, reid_request, le_ik=LE_IK, actor="le")
    with pytest.raises(PermissionDenied, match="never the person's case labels"):
        release_reidentification(setting.tc, case_request, le_ik=LE_IK, actor="le")
    (contact,) = release_case_identification(setting.tc, case_request,
                                             requester_le_ik=OTHER_LE_IK,
                                             actor="dr-requesting-le")
    assert contact.le_ik == LE_IK  # a contact number, not the case label (issue 18)
