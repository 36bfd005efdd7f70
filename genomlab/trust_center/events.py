"""The trust centre's declared events: identities, case numbers, consents, keys, linkage,
re-identification and corrections (one declared type, one payload model; see
:mod:`genomlab.events`). No payload carries a KVNR, an Arbeitsnummer or a case number in clear.
"""

from __future__ import annotations

from datetime import date

from genomlab.events import EventPayload, declare
from genomlab.messages import DatasetDomain


class IdentityRecorded(EventPayload):
    person_id: str
    kvnr_hash: str
    new_person: bool
    case_id: str
    le_ik: str
    le_name: str
    arbeitsnummer_sealed: str
    submission_type: str


class CaseNumberIssued(EventPayload):
    vn_ref: str
    domain: DatasetDomain
    sealed_binding: str


class CaseNumberExchanged(EventPayload):
    vn_ref: str
    node_id: str


class CaseNumberDeleted(EventPayload):
    vn_ref: str
    domain: DatasetDomain
    node_id: str


class CaseNumberRefused(EventPayload):
    vn_ref: str
    node_id: str
    reason: str


class DatasetDelivered(EventPayload):
    person_id: str
    domain: DatasetDomain
    node_id: str


class ConsentRecorded(EventPayload):
    person_id: str
    scope: str
    decision: str
    decided_on: date
    le_ik: str


class ConsentWithdrawn(EventPayload):
    person_id: str
    decided_on: date
    le_ik: str
    notified_projects: list[str]


class OfficerAppointed(EventPayload):
    officer: str
    appointed_by: str


class KeysRotated(EventPayload):
    version: int
    fingerprint: str


class ProjectRekeyed(EventPayload):
    project_id: str
    key_version: int


class ApprovalRevoked(EventPayload):
    application_id: str
    project_id: str
    revoked_at: str


class LinkageMapIssued(EventPayload):
    map_id: str
    application_id: str
    project_id: str
    key_version: int
    persons: list[str]
    n_rows: int
    n_requested: int
    n_excluded_no_consent: int
    n_unknown: int
    digest: str
    n_outside_cohort: int = 0
    consent_rule: str = ""
    """The consent rule(s) the map applied, with their legal source (empty in older events)."""


class LinkageMapRefused(EventPayload):
    application_id: str
    project_id: str
    reason: str


class ReidRequested(EventPayload):
    request_id: str
    kind: str
    project_id: str
    project_pseudonym: str
    person_id: str | None
    reason: str
    requester: str
    finding_id: str | None = None
    """The BfArM finding a re-identification for patient benefit carries (else ``None``)."""


class ReidRefused(EventPayload):
    request_id: str
    step: str
    reason: str
    by: str


class ReidApproved(EventPayload):
    request_id: str
    officer: str


class CasesReleased(EventPayload):
    """``reid.released`` (key ``request_id``), ``correction.released`` (``correction_id``)."""

    le_ik: str
    n_cases: int


class ReidReleased(CasesReleased):
    request_id: str


class CorrectionReleased(CasesReleased):
    correction_id: str


class CaseContactIssued(EventPayload):
    """Case identification: a new random number for the requester and the other LE's contact.

    The number itself is not stored: only its keyed reference and a binding it opens."""

    request_id: str
    contact_ref: str
    le_ik: str
    le_name: str
    sealed_binding: str


class CaseContactRedeemed(EventPayload):
    """The contacted LE presented the number and got its own case labels; the number is gone."""

    contact_ref: str
    le_ik: str
    n_cases: int


class CaseContactRefused(EventPayload):
    contact_ref: str
    le_ik: str
    reason: str


class CorrectionRequested(EventPayload):
    correction_id: str
    person_id: str
    domain: DatasetDomain
    node_id: str
    reason: str


class CorrectionRefused(EventPayload):
    node_id: str
    domain: DatasetDomain
    reason: str


TRUST_CENTER_EVENTS = declare("trust_center", {
    "identity.recorded": IdentityRecorded,
    "case_number.issued": CaseNumberIssued,
    "case_number.exchanged": CaseNumberExchanged,
    "case_number.deleted": CaseNumberDeleted,
    "case_number.refused": CaseNumberRefused,
    "dataset.delivered": DatasetDelivered,
    "consent.recorded": ConsentRecorded,
    "consent.withdrawn": ConsentWithdrawn,
    "officer.appointed": OfficerAppointed,
    "keys.rotated": KeysRotated,
    "project.rekeyed": ProjectRekeyed,
    "approval.revoked": ApprovalRevoked,
    "linkage_map.issued": LinkageMapIssued,
    "linkage_map.refused": LinkageMapRefused,
    "reid.requested": ReidRequested,
    "reid.refused": ReidRefused,
    "reid.approved": ReidApproved,
    "reid.released": ReidReleased,
    "case_contact.issued": CaseContactIssued,
    "case_contact.redeemed": CaseContactRedeemed,
    "case_contact.refused": CaseContactRefused,
    "correction.requested": CorrectionRequested,
    "correction.refused": CorrectionRefused,
    "correction.released": CorrectionReleased,
})
"""Every event type the trust centre's ledger accepts."""
