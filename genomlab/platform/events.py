"""The platform's (BfArM's) declared events: node registry, Prüfberichte, users and applications.

One declared type, one payload model (:mod:`genomlab.events`). Nested documents (an application
form, a signed approval or revocation, dataset tags) are checked for the fields the projections
read and otherwise kept as the code of their time wrote them, so stored events of older homes
still validate. Roles, votes and result kinds are checked by the workflow
(:mod:`genomlab.platform.applications.models`), which imports this module's ledger spec.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from genomlab.events import EventPayload, SubmittedCaseFields, declare


class _Document(BaseModel):
    """A nested document: the named fields are checked, further fields are kept."""

    model_config = ConfigDict(extra="allow", strict=True)


# --- node registry and Prüfberichte ---------------------------------------------------------


class NodeApplied(EventPayload):
    node_id: str
    kind: Literal["grz", "kdk", "data_service", "trust_center", "airlock"]
    name: str


class NodeDecided(EventPayload):
    """``node.approved``, ``node.suspended``, ``node.revoked``."""

    node_id: str
    reason: str


class PruefberichtConfirmed(SubmittedCaseFields):
    confirmation_id: str
    tan_hash: str
    node_id: str
    data_category: str
    qc_passed: bool
    replaces: str | None = None
    """The confirmation of a failed report for the same TAN that a passed one supersedes."""
    leistungsdatum: str | None = None
    """``JJJJMMTT`` + the hospital's counter of the day (absent in events before 0011)."""


class ConfirmationBilled(EventPayload):
    """``confirmation.billed``: an insurer billed a Meldebestätigung (a second one is refused)."""

    confirmation_id: str
    insurer_ik: str


class PruefberichtRefused(EventPayload):
    node_id: str
    reason: str


class OAuthClientIssued(EventPayload):
    """``oauth.client.issued``: one machine client of a node; only the secret's sha256 is kept."""

    client_id: str
    node_id: str
    secret_hash: str
    scope: str


class OAuthClientRevoked(EventPayload):
    """``oauth.client.revoked``: the client gets no token and its tokens stop working."""

    client_id: str
    reason: str


class PersonCredentialIssued(EventPayload):
    """``person.credential.issued``: an OAuth client of kind ``person`` for platform user
    ``user_id`` (the subject of its tokens); only the secret's sha256 is kept."""

    client_id: str
    user_id: str
    secret_hash: str
    scope: str


class PersonCredentialRevoked(EventPayload):
    """``person.credential.revoked``: no more tokens, and its unexpired tokens stop working."""

    client_id: str
    user_id: str
    reason: str


# --- users, roles, datasets -------------------------------------------------------------------


class UserRegistered(EventPayload):
    user_id: str
    institution: str
    name: str


class UserWithdrawn(EventPayload):
    """``platform.user.withdrawn``: the user may no longer act (every token of theirs stops)."""

    user_id: str
    reason: str


class RoleChanged(EventPayload):
    """``platform.role.granted``, ``platform.role.withdrawn``."""

    user_id: str
    role: str


class DatasetTagsDocument(_Document):
    dataset_id: str


class DatasetTagged(EventPayload):
    tags: DatasetTagsDocument


# --- applications -----------------------------------------------------------------------------


class FormDocument(_Document):
    """The application form (:class:`~genomlab.platform.applications.models.ApplicationForm`)."""

    title: str
    purposes: list[str]
    duo_permission: str
    level: str = "aggregated"
    team: list[str] = []


class ApplicationDrafted(EventPayload):
    application_id: str
    institution: str
    form: FormDocument


class ApplicationEdited(EventPayload):
    application_id: str
    form: FormDocument


class ApplicationSubmitted(EventPayload):
    application_id: str
    project_id: str
    first: bool
    changed_fields: list[str]


class ApplicationResultAdded(EventPayload):
    application_id: str
    kind: str
    title: str
    reference: str


class HandlerAssigned(EventPayload):
    application_id: str
    handler: str


class ApplicationReasoned(EventPayload):
    """``application.returned``, ``application.rejected``: a decision with its reason."""

    application_id: str
    reason: str


class DocumentAttached(EventPayload):
    """A document of the case file (ethics vote, data-protection concept, signed terms), stored
    with the application under ``<home>/platform/attachments/<application>/``."""

    application_id: str
    kind: Literal["ethics_vote", "data_protection_concept", "signed_terms", "other"]
    name: str
    sha256: str
    size: int


class FeasibilityNode(BaseModel):
    node: str
    count: str


class FeasibilityAttached(EventPayload):
    """The answer of a feasibility query for the application's cohort (as the data service
    gave it: per node, counts suppressed), so deciders see the expected cohort size."""

    application_id: str
    query: str
    nodes: list[FeasibilityNode]
    total: str


class DatasetDecided(EventPayload):
    """A decider's decision on one requested dataset (as a DAC decides per dataset); the
    approval grants only the data categories of datasets not rejected."""

    application_id: str
    dataset_id: str
    decision: Literal["approve", "reject"]
    reason: str


class DecisionRequested(EventPayload):
    """The handler's recommendation to the deciders, and the request to decide."""

    application_id: str
    recommendation: Literal["approve", "reject"]
    note: str


class ApplicantCommented(EventPayload):
    """A comment of the platform's staff to the applicant (shown to them, kept in the case)."""

    application_id: str
    comment: str


class ReviewRequested(EventPayload):
    application_id: str
    note: str = ""


class VoteRecorded(EventPayload):
    application_id: str
    vote: str
    comment: str


class ApprovalBody(_Document):
    team: list[str]


class ApprovalDocument(_Document):
    """The signed approval (:class:`genomlab.messages.SignedDocument`)."""

    body: ApprovalBody


class ApplicationApproved(EventPayload):
    application_id: str
    project_id: str
    valid_from: date
    valid_until: date
    note: str = ""
    approval: ApprovalDocument
    committee_votes: dict[str, int] | None = None
    """The committee's tally at approval (``approve``, ``reject``, ``abstain``); ``None`` in
    events from before issue 18."""
    duo_override_reason: str | None = None
    """Why the decider approved although a requested dataset's DUO tags block the purpose
    (required then, see ``Workflow.approve``); ``None`` when nothing was blocked."""


class ApplicationEnded(EventPayload):
    """``application.closed``, ``.revoked``, ``.expired`` (expiry has no reason)."""

    application_id: str
    reason: str | None = None
    revocation: dict[str, Any] | None = None


class KeyRotated(EventPayload):
    """``key.rotated``: the platform replaced its signing key ``key`` (``oauth``: access tokens,
    ``approval``: approvals and revocations) on its operator's decision
    (``genomlab ledger rotate-key``, :func:`genomlab.anchors.rotate_platform_key`). The
    institutions that trust the key re-anchor ``new_fingerprint`` in their own ledgers on the
    strength of this record; a swapped key pair without it is never re-anchored."""

    key: Literal["oauth", "approval"]
    old_fingerprint: str
    new_fingerprint: str
    reason: str


class ApprovalResigned(EventPayload):
    """``approval.resigned``: after a rotation of the platform's approval key, an approval in
    force (approved, neither revoked, closed nor expired) signed again, unchanged, with the new
    key (:meth:`genomlab.platform.applications.workflow.Workflow.resign_approvals`), so the
    approved project keeps its linkage and release; ``approval`` becomes the current signed
    approval. ``old_digest`` and ``approval_digest`` name the replaced and the new document
    (:func:`genomlab.messages.compute_document_digest`), the fingerprints the keys."""

    application_id: str
    project_id: str
    old_fingerprint: str
    new_fingerprint: str
    old_digest: str
    approval_digest: str
    approval: ApprovalDocument


class FindingReported(EventPayload):
    """A data user told BfArM of a finding relevant to a patient (GenDV § 7, issue 18): the
    finding itself travels signed to the data service; the ledger keeps its digest."""

    finding_id: str
    project_id: str
    reporter: str
    finding_sha256: str


PLATFORM_EVENTS = declare("platform", {
    "node.applied": NodeApplied,
    "node.approved": NodeDecided,
    "node.suspended": NodeDecided,
    "node.revoked": NodeDecided,
    "pruefbericht.confirmed": PruefberichtConfirmed,
    "pruefbericht.refused": PruefberichtRefused,
    "confirmation.billed": ConfirmationBilled,
    "oauth.client.issued": OAuthClientIssued,
    "oauth.client.revoked": OAuthClientRevoked,
    "person.credential.issued": PersonCredentialIssued,
    "person.credential.revoked": PersonCredentialRevoked,
    "platform.user.registered": UserRegistered,
    "platform.user.withdrawn": UserWithdrawn,
    "platform.role.granted": RoleChanged,
    "platform.role.withdrawn": RoleChanged,
    "platform.dataset.tagged": DatasetTagged,
    "application.drafted": ApplicationDrafted,
    "application.edited": ApplicationEdited,
    "application.submitted": ApplicationSubmitted,
    "application.result_added": ApplicationResultAdded,
    "application.handler_assigned": HandlerAssigned,
    "application.returned": ApplicationReasoned,
    "application.review_requested": ReviewRequested,
    "application.document_attached": DocumentAttached,
    "application.decision_requested": DecisionRequested,
    "application.dataset_decided": DatasetDecided,
    "application.feasibility_attached": FeasibilityAttached,
    "application.commented": ApplicantCommented,
    "application.vote_recorded": VoteRecorded,
    "application.approved": ApplicationApproved,
    "application.rejected": ApplicationReasoned,
    "application.closed": ApplicationEnded,
    "application.revoked": ApplicationEnded,
    "application.expired": ApplicationEnded,
    "finding.reported": FindingReported,
    "key.rotated": KeyRotated,
    "approval.resigned": ApprovalResigned,
})
"""Every event type the platform's ledger accepts."""
