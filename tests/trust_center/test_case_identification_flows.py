"""The law's two ways back to a person (GenDV § 7, genomde.md § 8.4), issue 18.

Case identification: the trust centre gives the requesting LE a new random number and the other
LE's contact, never the pseudonym or the person; the other LE redeems the number for its own case
label. Re-identification for patient benefit: a project's data user reports the finding to BfArM
(platform), the data service forwards it to the trust centre and, after two officers, routes it
to the treating LE, which asks the trust centre for its case label. Refusals: one officer, the
wrong purpose, no consent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from genomlab.config import GenomlabConfig
from genomlab.data_service.findings import deliver_finding, forward_finding
from genomlab.data_service.store import open_data_service_ledger
from genomlab.errors import PermissionDenied
from genomlab.ledger import projection_matches
from genomlab.messages import SignedDocument
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.findings import report_finding
from genomlab.platform.store import open_platform_ledger
from genomlab.trust_center.reidentification import (
    approve_reidentification,
    redeem_case_contact,
    release_case_identification,
    release_reidentification,
    request_reidentification,
)
from genomlab.trust_center.service import TrustCenter
from tests.trust_center.conftest import (
    LE_IK,
    OTHER_LE_IK,
    Person,
    enrol,
    get_stored_bytes,
)

REQUESTER = f"le:{OTHER_LE_IK}"


@dataclass
class Setting:
    config: GenomlabConfig
    tc: TrustCenter
    project_id: str
    team: tuple[str, ...]
    consenting: Person  # research, reIdentification and caseIdentification permitted
    no_case_scope: Person  # research permitted, caseIdentification and reIdentification denied
    no_research: Person  # research denied, both mvConsent scopes permitted
    pseudonym: dict[str, str]  # genome pseudonym -> project pseudonym

    def pp(self, person: Person) -> str:
        return self.pseudonym[person.genome]


@pytest.fixture
def setting(
    config: GenomlabConfig, tc: TrustCenter, sign_grant: Callable[..., SignedDocument]
) -> Setting:
    app = run_applications_demo(config)
    consenting, no_case_scope = enrol(tc, 2)
    (no_research,) = enrol(tc, 1, start=2, research=False)
    for person, decision in (
        (consenting, "permit"),
        (no_case_scope, "deny"),
        (no_research, "permit"),
    ):
        for scope in ("reIdentification", "caseIdentification"):
            tc.record_consent(
                kvnr=person.kvnr, le_ik=LE_IK, scope=scope, decision=decision, actor="le"
            )
    for officer in ("olga", "otto"):
        tc.appoint_officer(officer, actor="tc-head")
    # evaluation needs no research consent: the project sees all three (§ 64e (9))
    linkage = tc.issue_linkage_map(
        sign_grant(app.project_id, purposes=["evaluation"]),
        actor="data_service",
        genome_pseudonyms=[p.genome for p in (consenting, no_case_scope, no_research)],
    )
    assert len(linkage) == 3
    return Setting(
        config,
        tc,
        app.project_id,
        app.team,
        consenting,
        no_case_scope,
        no_research,
        {g: p for p, g, _ in linkage.rows()},
    )


def _case_request(s: Setting, person: Person) -> str:
    return request_reidentification(
        s.tc,
        project_id=s.project_id,
        project_pseudonym=s.pp(person),
        reason="similar phenotype, unclear variant",
        kind="caseIdentification",
        requester=REQUESTER,
    )


def _approve(s: Setting, request_id: str, officers: tuple[str, ...] = ("olga", "otto")) -> None:
    for officer in officers:
        approve_reidentification(s.tc, request_id, officer=officer)


# --- case identification ------------------------------------------------------------------------


def test_release_case_identification__new_number_and_contact_then_other_le_redeems(
    setting: Setting,
) -> None:
    request_id = _case_request(setting, setting.consenting)
    _approve(setting, request_id)
    (contact,) = release_case_identification(
        setting.tc, request_id, requester_le_ik=OTHER_LE_IK, actor=REQUESTER
    )
    assert (contact.le_ik, contact.le_name) == (LE_IK, "Uniklinik Test")
    assert len(contact.contact_number) == 64
    assert contact.contact_number not in {*setting.consenting.vns, setting.consenting.genome}
    stored = get_stored_bytes(setting.tc.ledger.engine)
    assert contact.contact_number.encode() not in stored  # only its keyed reference
    with pytest.raises(PermissionDenied, match=f"not issued for LE {OTHER_LE_IK}"):
        redeem_case_contact(setting.tc, contact.contact_number, le_ik=OTHER_LE_IK, actor=REQUESTER)
    result = redeem_case_contact(
        setting.tc, contact.contact_number, le_ik=LE_IK, actor=f"le:{LE_IK}"
    )
    assert result.arbeitsnummern == (setting.consenting.arbeitsnummer,)
    with pytest.raises(PermissionDenied, match="already redeemed"):
        redeem_case_contact(setting.tc, contact.contact_number, le_ik=LE_IK, actor="le")
    with pytest.raises(PermissionDenied, match="unknown contact number"):
        redeem_case_contact(setting.tc, "ab" * 32, le_ik=LE_IK, actor="le")
    types = [e.type for e in setting.tc.ledger.events(stream=f"reid:{request_id}")]
    assert types == [
        "reid.requested",
        "reid.approved",
        "reid.approved",
        "case_contact.issued",
        "reid.released",
        "case_contact.redeemed",
    ]
    assert [e.payload["reason"] for e in setting.tc.ledger.events(type="case_contact.refused")] == [
        f"the contact number was not issued for LE {OTHER_LE_IK}",
        "contact number already redeemed",
        "unknown contact number",
    ]
    assert projection_matches(setting.tc.ledger, setting.tc.projection) == []


def test_release_case_identification__one_officer_wrong_purpose_and_other_requester_refused(
    setting: Setting,
) -> None:
    request_id = _case_request(setting, setting.consenting)
    _approve(setting, request_id, ("olga",))
    with pytest.raises(PermissionDenied, match="1 of 2 officer approvals"):
        release_case_identification(
            setting.tc, request_id, requester_le_ik=OTHER_LE_IK, actor=REQUESTER
        )
    _approve(setting, request_id, ("otto",))
    with pytest.raises(PermissionDenied, match="never the person's case labels"):
        release_reidentification(setting.tc, request_id, le_ik=LE_IK, actor=f"le:{LE_IK}")
    with pytest.raises(PermissionDenied, match="only the requester receives the contact"):
        release_case_identification(
            setting.tc, request_id, requester_le_ik=LE_IK, actor=f"le:{LE_IK}"
        )
    reid = request_reidentification(
        setting.tc,
        project_id=setting.project_id,
        project_pseudonym=setting.pp(setting.consenting),
        reason="finding",
        kind="reIdentification",
        requester="rita",
    )
    _approve(setting, reid)
    with pytest.raises(PermissionDenied, match="not a caseIdentification request"):
        release_case_identification(setting.tc, reid, requester_le_ik=OTHER_LE_IK, actor="rita")
    assert list(setting.tc.ledger.events(type="case_contact.issued")) == []


@pytest.mark.parametrize(
    ("who", "missing"),
    [
        ("no_case_scope", "missing: caseIdentification"),
        ("no_research", "missing: research"),
    ],
)
def test_request_reidentification__case_identification_without_consent_refused(
    setting: Setting, who: str, missing: str
) -> None:
    with pytest.raises(PermissionDenied, match=missing) as refused:
        _case_request(setting, getattr(setting, who))
    assert "§ 64e (6)" in str(refused.value)


def test_release_case_identification__consent_withdrawn_after_approval_refused(
    setting: Setting,
) -> None:
    request_id = _case_request(setting, setting.consenting)
    _approve(setting, request_id)
    setting.tc.record_consent(
        kvnr=setting.consenting.kvnr,
        le_ik=LE_IK,
        scope="caseIdentification",
        decision="deny",
        actor="le",
    )
    with pytest.raises(PermissionDenied, match="no longer permits caseIdentification"):
        release_case_identification(
            setting.tc, request_id, requester_le_ik=OTHER_LE_IK, actor=REQUESTER
        )


# --- re-identification for patient benefit through BfArM and the data service --------------------


FINDING = "Pathogenic BRCA2 c.5946del (ACMG class 5), actionable: refer to genetic counselling"


def test_deliver_finding__bfarm_data_service_trust_centre_to_treating_le(setting: Setting) -> None:
    document = report_finding(
        setting.config,
        project_id=setting.project_id,
        project_pseudonym=setting.pp(setting.consenting),
        finding=FINDING,
        reporter=setting.team[0],
    )
    request_id = forward_finding(setting.config, setting.tc, document)
    with pytest.raises(PermissionDenied, match="0 of 2 officer approvals"):
        deliver_finding(setting.config, setting.tc, request_id, document)
    _approve(setting, request_id, ("olga",))
    with pytest.raises(PermissionDenied, match="1 of 2 officer approvals"):
        deliver_finding(setting.config, setting.tc, request_id, document)
    _approve(setting, request_id, ("otto",))
    delivery = deliver_finding(setting.config, setting.tc, request_id, document)
    assert (delivery.le_ik, delivery.finding) == (LE_IK, FINDING)
    result = release_reidentification(setting.tc, request_id, le_ik=LE_IK, actor=f"le:{LE_IK}")
    assert result.arbeitsnummern == (setting.consenting.arbeitsnummer,)
    finding_id = document.body["finding_id"]
    assert [
        e.type for e in open_platform_ledger(setting.config).events(stream=f"finding:{finding_id}")
    ] == ["finding.reported"]
    assert [
        (e.type, e.payload.get("le_ik"))
        for e in open_data_service_ledger(setting.config).events(stream=f"finding:{finding_id}")
    ] == [("finding.forwarded", None), ("finding.delivered", LE_IK)]
    opened = next(iter(setting.tc.ledger.events(stream=f"reid:{request_id}")))
    assert opened.payload["finding_id"] == finding_id
    assert FINDING not in str(opened.payload)  # the trust centre keeps a digest only


def test_report_finding__only_a_member_of_the_projects_team(setting: Setting) -> None:
    with pytest.raises(PermissionDenied, match="mallory is not on the team"):
        report_finding(
            setting.config,
            project_id=setting.project_id,
            project_pseudonym=setting.pp(setting.consenting),
            finding=FINDING,
            reporter="mallory",
        )


def test_forward_finding__not_a_bfarm_finding_or_no_consent_refused(
    setting: Setting, sign_grant: Callable[..., SignedDocument]
) -> None:
    with pytest.raises(PermissionDenied, match="not a finding from BfArM"):
        forward_finding(setting.config, setting.tc, sign_grant(setting.project_id))
    document = report_finding(
        setting.config,
        project_id=setting.project_id,
        project_pseudonym=setting.pp(setting.no_case_scope),
        finding=FINDING,
        reporter=setting.team[0],
    )
    with pytest.raises(PermissionDenied, match="missing: reIdentification"):
        forward_finding(setting.config, setting.tc, document)
    forged = document.model_copy(update={"body": {**document.body, "finding": "other"}})
    with pytest.raises(PermissionDenied, match="not a finding from BfArM"):
        forward_finding(setting.config, setting.tc, forged)
    assert list(open_data_service_ledger(setting.config).events(type="finding.forwarded")) == []
    steps = [e.payload["step"] for e in setting.tc.ledger.events(type="reid.refused")]
    assert steps == ["request"] * 3


def test_deliver_finding__another_findings_document_refused(setting: Setting) -> None:
    first = report_finding(
        setting.config,
        project_id=setting.project_id,
        project_pseudonym=setting.pp(setting.consenting),
        finding=FINDING,
        reporter=setting.team[0],
    )
    other = report_finding(
        setting.config,
        project_id=setting.project_id,
        project_pseudonym=setting.pp(setting.no_research),
        finding="something else",
        reporter=setting.team[0],
    )
    request_id = forward_finding(setting.config, setting.tc, first)
    _approve(setting, request_id)
    with pytest.raises(PermissionDenied, match="was not opened for finding"):
        deliver_finding(setting.config, setting.tc, request_id, other)
