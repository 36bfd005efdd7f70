"""Re-identification and case identification: the two lawful ways back to a person (§ 8.4).

A request names the project, the project pseudonym the project received and the reason. It is
refused unless the person's consent allows the purpose (:mod:`genomlab.consent_policy`:
``reIdentification`` to inform the treating LE of a finding; research consent and
``caseIdentification`` for contact between LEs with similar cases), checked again at release.
It then needs approvals by :data:`REQUIRED_APPROVALS` different trust-centre officers, none of
them the requester (four-eyes, enforced here rather than by organisation alone as in gPAS or
Mainzelliste). Every step, refusals included, is a ledger event.

- Informing the treating LE: the request comes from a finding BfArM signed
  (:func:`request_finding_reidentification`, forwarded by the data service); after the
  approvals the data service learns the treating LE (:func:`get_treating_le`) and that LE
  collects its Arbeitsnummer(s) (:func:`release_reidentification`: any other IK is refused).
- Case identification: the requester gets a new random number and the other LE's contact
  (:func:`release_case_identification`), never the pseudonym or the person; the other LE
  presents the number for its own Arbeitsnummer(s) (:func:`redeem_case_contact`).

Examples
--------
>>> REQUIRED_APPROVALS
2
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from genomlab.consent_policy import can_use_for
from genomlab.errors import ConflictError, GenomlabError, NotFoundError, PermissionDenied
from genomlab.messages import FINDING_KIND, SignatureError, SignedDocument, verify_document
from genomlab.trust_center import store
from genomlab.trust_center.identifiers import check_ik
from genomlab.trust_center.key_material import open_binding, seal_binding
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
                             reason: str, kind: ReidKind, requester: str,
                             finding_id: str | None = None) -> str:
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
            "reason": reason.strip(), "requester": requester, "finding_id": finding_id,
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
        if request.kind == "caseIdentification":
            refusal = ("case identification gives the requester a contact number "
                       "(release_case_identification), never the person's case labels")
        elif n_approvals < REQUIRED_APPROVALS:
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


# --- the law's two flows ------------------------------------------------------------------------


def _approved_request(conn: Connection, request_id: str, kind: str) -> tuple[Any, str | None]:
    """The pending request and why it may not proceed yet (``None``: it may)."""
    request = _open_request(conn, request_id)
    n_approvals = len(set(conn.execute(select(store.reid_approvals.c.officer).where(
        store.reid_approvals.c.request_id == request_id)).scalars()))
    if request.kind != kind:
        return request, f"a {request.kind} request is not a {kind} request"
    if n_approvals < REQUIRED_APPROVALS:
        return request, f"{n_approvals} of {REQUIRED_APPROVALS} officer approvals"
    missing = check_consent(conn, request.person_id, kind)
    if missing is not None:
        return request, missing.replace("does not permit", "no longer permits", 1)
    return request, None


@dataclass(frozen=True)
class CaseContact:
    """What the requesting LE receives in a case identification: a new random number and the
    other LE's contact. Never the pseudonym, the person or the other LE's case label."""

    request_id: str
    contact_number: str
    le_ik: str
    le_name: str


def release_case_identification(tc: TrustCenter, request_id: str, *, requester_le_ik: str,
                                actor: str) -> tuple[CaseContact, ...]:
    """Give the requester of an approved case identification one contact per other LE.

    GenDV § 7 / genomde.md § 8.4: the trust centre creates a random number and passes it, with
    the contact of the LE that treats the similar case, to the requesting LE. Only the one who
    asked (``actor`` = the request's requester) receives it, after two officers approved and
    while the person's consent permits case identification (research consent and the
    ``caseIdentification`` scope, :mod:`genomlab.consent_policy`). The numbers are not
    stored, only their keyed references and a binding each opens.
    """
    check_ik(requester_le_ik)
    with tc.ledger.transaction() as tx:
        request, refusal = _approved_request(tx.conn, request_id, "caseIdentification")
        les = tx.conn.execute(select(store.cases.c.le_ik, store.cases.c.le_name).where(
            (store.cases.c.person_id == request.person_id)
            & (store.cases.c.le_ik != requester_le_ik))
            .order_by(store.cases.c.requested_at)).all()
        contacts: dict[str, str] = {}
        for row in les:
            contacts.setdefault(row.le_ik, row.le_name)
        if refusal is None and actor != request.requester:
            refusal = "only the requester receives the contact"
        if refusal is None and not contacts:
            refusal = "no other LE treats this person"
        if refusal is None:
            issued = []
            for le_ik, le_name in contacts.items():
                number = secrets.token_hex(32)
                tx.append("case_contact.issued", {
                    "request_id": request_id, "contact_ref": tc.secrets.vn_ref(number),
                    "le_ik": le_ik, "le_name": le_name,
                    "sealed_binding": seal_binding(number, {"person_id": request.person_id,
                                                            "request_id": request_id}),
                }, actor=actor, stream=f"reid:{request_id}")
                issued.append(CaseContact(request_id, number, le_ik, le_name))
            tx.append("reid.released", {"request_id": request_id, "le_ik": requester_le_ik,
                                        "n_cases": len(issued)},
                      actor=actor, stream=f"reid:{request_id}")
            return tuple(issued)
    raise _refuse(tc, request_id, "release", refusal, actor)


def redeem_case_contact(tc: TrustCenter, contact_number: str, *, le_ik: str,
                        actor: str) -> ReidentificationResult:
    """The contacted LE presents the number; it gets its own case label(s) of the person.

    Only the LE the number was issued for may redeem it, once; afterwards the number opens
    nothing (its binding is deleted). Refusals are recorded (``case_contact.refused``).
    """
    check_ik(le_ik)
    number = contact_number.strip().lower()
    ref = tc.secrets.vn_ref(number)
    with tc.ledger.transaction() as tx:
        row = tx.conn.execute(select(store.case_contacts).where(
            store.case_contacts.c.contact_ref == ref)).first()
        if row is None:
            refusal = "unknown contact number"
        elif row.state != "issued":
            refusal = "contact number already redeemed"
        elif row.le_ik != le_ik:
            refusal = f"the contact number was not issued for LE {le_ik}"
        else:
            binding = open_binding(number, row.sealed_binding)
            cases = tx.conn.execute(select(store.cases.c.case_id,
                                           store.cases.c.arbeitsnummer_sealed).where(
                (store.cases.c.person_id == binding["person_id"])
                & (store.cases.c.le_ik == le_ik)).order_by(store.cases.c.requested_at)).all()
            tx.append("case_contact.redeemed", {"contact_ref": ref, "le_ik": le_ik,
                                                "n_cases": len(cases)},
                      actor=actor, stream=f"reid:{row.request_id}")
            numbers = tuple(tc.secrets.open_arbeitsnummer(c.arbeitsnummer_sealed, c.case_id)
                            for c in cases)
            return ReidentificationResult(row.request_id, "caseIdentification", le_ik, numbers)
    tc.ledger.append("case_contact.refused", {"contact_ref": ref, "le_ik": le_ik,
                                              "reason": refusal}, actor=actor)
    raise PermissionDenied(f"case contact refused: {refusal}")


def read_finding(tc: TrustCenter, document: SignedDocument) -> dict[str, Any]:
    """The body of a finding BfArM signed (kind ``reid-finding``); raises otherwise."""
    body = verify_document(document, tc.platform_key, kind=FINDING_KIND)
    missing = {"finding_id", "project_id", "project_pseudonym", "finding"} - set(body)
    if missing:
        raise GenomlabError(f"finding: missing field {sorted(missing)[0]}")
    return body


def request_finding_reidentification(tc: TrustCenter, document: SignedDocument, *,
                                     requester: str) -> str:
    """Open a re-identification for patient benefit from a finding BfArM forwarded.

    GenDV § 7 / genomde.md § 8.4: the data user informs BfArM; BfArM sends the finding and the
    pseudonym through a data service. Anything but a document BfArM signed as a finding (an
    approval, a forged or altered one) is refused and recorded. The request then needs two
    officers like any other (:func:`approve_reidentification`).
    """
    try:
        body = read_finding(tc, document)
    except (SignatureError, GenomlabError) as exc:
        request_id = secrets.token_hex(16)
        tc.ledger.append("reid.refused", {"request_id": request_id, "step": "request",
                                          "reason": f"not a finding from BfArM: {exc}",
                                          "by": requester},
                         actor=requester, stream=f"reid:{request_id}")
        raise PermissionDenied(f"re-identification {request_id}: request refused: not a "
                               f"finding from BfArM ({exc})") from exc
    digest = hashlib.sha256(str(body["finding"]).encode()).hexdigest()[:16]
    return request_reidentification(
        tc, project_id=str(body["project_id"]),
        project_pseudonym=str(body["project_pseudonym"]),
        reason=f"finding {body['finding_id']} reported to BfArM (sha256 {digest}…)",
        kind="reIdentification", requester=requester, finding_id=str(body["finding_id"]))


def get_treating_le(tc: TrustCenter, request_id: str, *, actor: str) -> str:
    """The IK of the LE that treats the person of an approved re-identification request.

    What the data service needs to route the finding to the treating LE, which then asks for
    its case label itself (:func:`release_reidentification`). Refused (and recorded) before two
    officers approved or if the consent no longer permits it.
    """
    with tc.ledger.transaction() as tx:
        request, refusal = _approved_request(tx.conn, request_id, "reIdentification")
        le_ik = tx.conn.execute(select(store.cases.c.le_ik).where(
            store.cases.c.person_id == request.person_id)
            .order_by(store.cases.c.requested_at.desc())).scalar()
        if refusal is None and le_ik is not None:
            return str(le_ik)
    raise _refuse(tc, request_id, "route", refusal or "no treating LE is known", actor)
