"""The correction procedure (GenDV § 5, genomde.md § 8.5).

A GRZ or KDK that finds an error asks the trust centre with the dataset pseudonym it holds; the
trust centre passes the request to the treating LE together with the LE's own Arbeitsnummer; the
LE requests a new case number (``submission_type="correction"``), sends corrected data, and the
node obtains the pseudonym again with the new number — the same person, so the same pseudonym.
Only a node that received the pseudonym may ask, and only an LE with a case for the person gets
the answer. Every step is a ledger event.

Examples
--------
See ``tests/trust_center/test_corrections.py``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from genomlab.errors import ConflictError, GenomlabError, NotFoundError, PermissionDenied
from genomlab.messages import DatasetDomain
from genomlab.trust_center import store
from genomlab.trust_center.identifiers import check_ik
from genomlab.trust_center.key_material import DATASET_PREFIX
from genomlab.trust_center.pseudonyms import ids_to_hex, resolve_pseudonyms
from genomlab.trust_center.service import TrustCenter


@dataclass(frozen=True)
class CorrectionNotice:
    """What the treating LE receives: which node asks, why, and the LE's own case labels."""

    correction_id: str
    node_id: str
    domain: str
    reason: str
    arbeitsnummern: tuple[str, ...]


def request_correction(tc: TrustCenter, dataset_pseudonym: str, *, node_id: str,
                       reason: str) -> str:
    """A node asks for a correction of the dataset it stores under ``dataset_pseudonym``.

    Returns the correction id, or records the refusal and raises if the node never received
    that pseudonym.
    """
    if not reason.strip():
        raise GenomlabError("field reason: a correction request must state its reason")
    domain: DatasetDomain = "genomic" if dataset_pseudonym.startswith("GDP") else "clinical"
    person_id = ids_to_hex(resolve_pseudonyms(tc.secrets.dataset_key(domain), [dataset_pseudonym],
                                              prefix=DATASET_PREFIX[domain]))[0]
    correction_id = secrets.token_hex(16)
    with tc.ledger.transaction() as tx:
        delivered = tx.conn.execute(select(store.deliveries.c.person_id).where(
            (store.deliveries.c.person_id == person_id) & (store.deliveries.c.domain == domain)
            & (store.deliveries.c.node_id == node_id))).first()
        if delivered is not None:
            tx.append("correction.requested", {
                "correction_id": correction_id, "person_id": person_id, "domain": domain,
                "node_id": node_id, "reason": reason.strip()},
                actor=f"node:{node_id}", stream=f"correction:{correction_id}")
            return correction_id
    tc.ledger.append("correction.refused", {"node_id": node_id, "domain": domain,
                                            "reason": "pseudonym not delivered to this node"},
                     actor=f"node:{node_id}")
    raise PermissionDenied(f"correction refused: {node_id} holds no dataset under this pseudonym")


def release_correction(tc: TrustCenter, correction_id: str, *, le_ik: str,
                       actor: str) -> CorrectionNotice:
    """Pass an open correction request to the treating LE ``le_ik``; refuse any other LE."""
    check_ik(le_ik)
    with tc.ledger.transaction() as tx:
        row = tx.conn.execute(select(store.corrections).where(
            store.corrections.c.correction_id == correction_id)).first()
        if row is None:
            raise NotFoundError(f"no correction request {correction_id}")
        if row.state != "open":
            raise ConflictError(f"correction request {correction_id} is already {row.state}")
        cases = tx.conn.execute(select(store.cases.c.case_id, store.cases.c.arbeitsnummer_sealed)
                                .where((store.cases.c.person_id == row.person_id)
                                       & (store.cases.c.le_ik == le_ik))
                                .order_by(store.cases.c.requested_at)).all()
        if cases:
            tx.append("correction.released", {"correction_id": correction_id, "le_ik": le_ik,
                                               "n_cases": len(cases)},
                      actor=actor, stream=f"correction:{correction_id}")
            return CorrectionNotice(
                correction_id, row.node_id, row.domain, row.reason,
                tuple(tc.secrets.open_arbeitsnummer(c.arbeitsnummer_sealed, c.case_id)
                      for c in cases))
    tc.ledger.append("correction.refused", {"node_id": row.node_id, "domain": row.domain,
                                            "reason": f"LE {le_ik} is not the treating LE"},
                     actor=actor, stream=f"correction:{correction_id}")
    raise PermissionDenied(f"correction {correction_id}: LE {le_ik} is not the treating LE")
