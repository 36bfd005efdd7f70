"""Re-identification and case identification: the two lawful ways back to a person (§ 8.4).

A request names the project, the project pseudonym the project received and the reason. It is
refused unless the person's mvConsent permits the matching scope (``reIdentification`` to inform
the treating LE of a finding, ``caseIdentification`` for contact between LEs with similar cases).
It then needs approvals by :data:`REQUIRED_APPROVALS` different trust-centre officers, none of
them the requester (four-eyes, enforced here rather than by organisation alone as in gPAS or
Mainzelliste). The result — the LE's IK and its Arbeitsnummer(s) for the person — is released
only to that LE: the caller must present the LE's IK, and any other IK is refused. Every step,
refusals included, is a ledger event.

Examples
--------
>>> REQUIRED_APPROVALS
2
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from genomlab.consent_policy import can_use_for
from genomlab.errors import ConflictError, GenomlabError, NotFoundError, PermissionDenied
from genomlab.trust_center import store
from genomlab.trust_center.identifiers import check_ik
from genomlab.trust_center.service import TrustCenter

ReidKind = Literal["reIdentification", "caseIdentification"]
REQUIRED_APPROVALS = 2  # four-eyes principle, anchors.md § 18


@dataclass(frozen=True)
class ReidentificationResult:
    """What the treating LE receives: its own case labels for the person."""

    request_id: str
    kind: str
    le_ik: str
    arbeitsnummern: tuple[str, ...]


PURPOSE_OF_KIND = {"reIdentification": "re_identification",
                   "caseIdentification": "case_identification"}
"""The :mod:`genomlab.consent_policy` purpose of each kind of request."""


def get_consent(conn: Connection, person_id: str) -> dict[str, str]:
    """The person's consent as the trust centre knows it: scope → permit/deny."""
    return {row.scope: row.decision for row in conn.execute(
        select(store.consents.c.scope, store.consents.c.decision).where(
            store.consents.c.person_id == person_id))}


def check_consent(conn: Connection, person_id: str, kind: str) -> str | None:
    """Why the person's consent does not allow ``kind`` (naming the rule), or ``None``."""
    decision = can_use_for(PURPOSE_OF_KIND[kind], get_consent(conn, person_id))
    if decision.allowed:
        return None
    return (f"the person's consent does not permit {kind} (missing: "
            f"{', '.join(decision.missing)}; {decision.rule.source})")


def _open_request(conn: Connection, request_id: str) -> Any:
    row = conn.execute(select(store.reid_requests).where(
        store.reid_requests.c.request_id == request_id)).first()
    if row is None:
        raise NotFoundError(f"no re-identification request {request_id}")
    if row.state != "pending":
        raise ConflictError(f"re-identification request {request_id} is already {row.state}")
    return row


def _refuse(tc: TrustCenter, request_id: str, step: str, reason: str, by: str) -> PermissionDenied:
    tc.ledger.append("reid.refused", {"request_id": request_id, "step": step, "reason": reason,
                                      "by": by}, actor=by, stream=f"reid:{request_id}")
    return PermissionDenied(f"re-identification {request_id}: {step} refused: {reason}")


def request_reidentification(tc: TrustCenter, *, project_id: str, project_pseudonym: str,
                             reason: str, kind: ReidKind, requester: str) -> str:
    """Open a request; returns its id, or records the refusal and raises.

    Examples
    --------
    See ``tests/trust_center/test_reidentification.py``.
    """
    if kind not in ("reIdentification", "caseIdentification"):
        raise GenomlabError("field kind: expected reIdentification or caseIdentification")
    if not reason.strip():
        raise GenomlabError("field reason: a re-identification request must state its reason")
    request_id = secrets.token_hex(16)
    refusal = None
    with tc.ledger.transaction() as tx:
        try:
            person_id: str | None = tc.resolve_project_pseudonym(tx.conn, project_id,
                                                                 project_pseudonym)
        except NotFoundError as exc:
            person_id, refusal = None, str(exc)
        tx.append("reid.requested", {
            "request_id": request_id, "kind": kind, "project_id": project_id,
            "project_pseudonym": project_pseudonym, "person_id": person_id,
            "reason": reason.strip(), "requester": requester,
        }, actor=requester, stream=f"reid:{request_id}")
        if person_id is not None and refusal is None:
            refusal = check_consent(tx.conn, person_id, kind)
        if refusal is not None:
            tx.append("reid.refused", {"request_id": request_id, "step": "request",
                                       "reason": refusal, "by": requester},
                      actor=requester, stream=f"reid:{request_id}")
    if refusal is not None:
        raise PermissionDenied(f"re-identification {request_id}: request refused: {refusal}")
    return request_id


def approve_reidentification(tc: TrustCenter, request_id: str, *, officer: str) -> int:
    """Record one officer's approval; returns how many distinct officers have approved.

    Refused (and recorded) if ``officer`` is not a trust-centre officer, is the requester, or
    has already approved this request.
    """
    with tc.ledger.transaction() as tx:
        request = _open_request(tx.conn, request_id)
        approvers = set(tx.conn.execute(select(store.reid_approvals.c.officer).where(
            store.reid_approvals.c.request_id == request_id)).scalars())
        is_officer = tx.conn.execute(select(store.officers.c.officer).where(
            store.officers.c.officer == officer)).first() is not None
        if not is_officer:
            refusal = f"{officer} is not a trust-centre officer"
        elif officer == request.requester:
            refusal = "the requester may not approve their own request"
        elif officer in approvers:
            refusal = f"{officer} has already approved; a second officer must approve"
        else:
            tx.append("reid.approved", {"request_id": request_id, "officer": officer},
                      actor=officer, stream=f"reid:{request_id}")
            return len(approvers) + 1
    raise _refuse(tc, request_id, "approval", refusal, officer)


def release_reidentification(tc: TrustCenter, request_id: str, *, le_ik: str,
                             actor: str) -> ReidentificationResult:
    """Release the person's Arbeitsnummer(s) to the treating LE ``le_ik``; refuse anyone else.

    Needs :data:`REQUIRED_APPROVALS` approvals and a consent scope that still permits the kind.
    """
    check_ik(le_ik)
    with tc.ledger.transaction() as tx:
        request = _open_request(tx.conn, request_id)
        n_approvals = len(set(tx.conn.execute(select(store.reid_approvals.c.officer).where(
            store.reid_approvals.c.request_id == request_id)).scalars()))
        cases = tx.conn.execute(select(store.cases.c.case_id,
                                       store.cases.c.arbeitsnummer_sealed).where(
            (store.cases.c.person_id == request.person_id) & (store.cases.c.le_ik == le_ik)
        ).order_by(store.cases.c.requested_at)).all()
        if n_approvals < REQUIRED_APPROVALS:
            refusal = f"{n_approvals} of {REQUIRED_APPROVALS} officer approvals"
        elif (missing := check_consent(tx.conn, request.person_id, request.kind)) is not None:
            refusal = missing.replace("does not permit", "no longer permits", 1)
        elif not cases:
            refusal = f"LE {le_ik} is not the treating LE of this person"
        else:
            tx.append("reid.released", {"request_id": request_id, "le_ik": le_ik,
                                        "n_cases": len(cases)},
                      actor=actor, stream=f"reid:{request_id}")
            numbers = tuple(tc.secrets.open_arbeitsnummer(row.arbeitsnummer_sealed, row.case_id)
                            for row in cases)
            return ReidentificationResult(request_id, request.kind, le_ik, numbers)
    raise _refuse(tc, request_id, "release", refusal, actor)
