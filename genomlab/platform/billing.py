"""What a health insurer may bill: the status of a Meldebestätigung and the double-billing guard.

A Meldebestätigung is billable when its quality check passed and it is not a test submission
(mvh_copy_mb files the others as ``QC_FAILED_``; a ``test`` report only proves a hospital's set-up).
One that a corrected report replaced is ``revoked`` (the corrected one is billed instead). The
first billing of a Meldebestätigung is recorded as ``confirmation.billed`` in the platform ledger;
a second billing of the same one is refused (``already_billed``), whoever asks.

Insurers look a Meldebestätigung up by its id (``MB…``) or by the 10-character code of its IBE
string (:mod:`genomlab.platform.mb_format`).

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.confirmations import receive_pruefbericht
>>> from genomlab.platform.nodes import NodeRegistry
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> NodeRegistry(config).ensure_approved("KDKK00001", name="KDK", actor="op")
>>> report = {"SubmittedCase": {"submissionDate": "2025-07-01", "submissionType": "initial",
...     "tan": "ab" * 32, "submitterId": "260530103", "dataNodeId": "KDKK00001",
...     "diseaseType": "rare", "dataCategory": "clinical", "libraryType": "wgs",
...     "coverageType": "GKV", "dataQualityCheckPassed": True}}
>>> doc = receive_pruefbericht(config, "KDKK00001", report, actor="node:KDKK00001")
>>> get_confirmation_status(config, doc.body["confirmation_id"])["status"]
'billable'
>>> record_billing(config, doc.body["confirmation_id"], insurer_ik="108310400", actor="kk")
>>> get_confirmation_status(config, doc.body["confirmation_id"])["status"]
'already_billed'
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlalchemy import Connection, select

from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.errors import ConflictError, NotFoundError, ValidationFailed
from genomlab.platform.node_projection import billings_table, confirmations_table, replaced_table
from genomlab.platform.nodes import open_registry_ledger

BillingStatus = Literal["billable", "not_billable", "revoked", "already_billed"]

INSURER_IK = re.compile(r"^[0-9]{9}$")


def get_billing_problem(*, qc_passed: bool, submission_type: str) -> str | None:
    """Why a Meldebestätigung with these fields is not billable, or None if it is.

    Examples
    --------
    >>> get_billing_problem(qc_passed=False, submission_type="initial")
    'quality check failed'
    >>> get_billing_problem(qc_passed=True, submission_type="test") is None
    False
    """
    if not qc_passed:
        return "quality check failed"
    if submission_type == "test":
        return "test submission"
    return None


def _find_id(conn: Connection, reference: str) -> str:
    """The confirmation id ``reference`` names (an ``MB…`` id or a 10-character IBE code)."""
    reference = reference.strip()
    if not re.fullmatch(r"MB[0-9A-F]{16}|[0-9A-Za-z]{10}", reference):
        raise ValidationFailed(f"field confirmation: {reference!r} is neither an MB id nor a "
                               "10-character IBE code")
    for table in (confirmations_table, replaced_table):
        ids = conn.execute(select(table.c.confirmation_id).where(
            table.c.confirmation_id.endswith(reference.upper()))).scalars().all()
        if len(ids) > 1:
            raise ConflictError(f"confirmation {reference}: the code names {len(ids)} "
                                "Meldebestätigungen; give the full MB id")
        if ids:
            return str(ids[0])
    raise NotFoundError(f"confirmation {reference}: no such Meldebestätigung")


def _status(conn: Connection, reference: str) -> dict[str, Any]:
    confirmation_id = _find_id(conn, reference)
    billed = conn.execute(select(billings_table).where(
        billings_table.c.confirmation_id == confirmation_id)).first()
    if billed is not None:
        return {"confirmation_id": confirmation_id, "status": "already_billed",
                "reason": f"billed by insurer {billed.insurer_ik} at {billed.billed_at}"}
    replaced = conn.execute(select(replaced_table).where(
        replaced_table.c.confirmation_id == confirmation_id)).first()
    if replaced is not None:
        return {"confirmation_id": confirmation_id, "status": "revoked",
                "reason": f"replaced by {replaced.replaced_by} (corrected report)"}
    row = conn.execute(select(confirmations_table).where(
        confirmations_table.c.confirmation_id == confirmation_id)).one()
    problem = get_billing_problem(qc_passed=row.qc_passed, submission_type=row.submission_type)
    return {"confirmation_id": confirmation_id,
            "status": "not_billable" if problem else "billable", "reason": problem or ""}


def get_confirmation_status(config: GenomlabConfig, reference: str) -> dict[str, Any]:
    """``{"confirmation_id", "status", "reason"}`` of a Meldebestätigung, for an insurer.

    ``status`` is one of :data:`BillingStatus`; an unknown reference raises
    :class:`NotFoundError`.
    """
    ledger = open_registry_ledger(config)
    with read_connection(ledger.engine) as conn:
        return _status(conn, reference)


def record_billing(config: GenomlabConfig, reference: str, *, insurer_ik: str,
                   actor: str) -> None:
    """Record the first billing of a Meldebestätigung by ``insurer_ik``.

    Refuses (nothing recorded) a second billing of the same Meldebestätigung
    (:class:`ConflictError`), and one that is not billable or revoked
    (:class:`ValidationFailed`).
    """
    if not INSURER_IK.match(insurer_ik):
        raise ValidationFailed(f"field insurer_ik: {insurer_ik!r} is not a 9-digit IK")
    ledger = open_registry_ledger(config)
    with ledger.transaction() as tx:
        status = _status(tx.conn, reference)
        if status["status"] == "already_billed":
            raise ConflictError(f"confirmation {status['confirmation_id']}: already billed "
                                f"({status['reason']}); a second billing is refused")
        if status["status"] != "billable":
            raise ValidationFailed(f"confirmation {status['confirmation_id']}: "
                                   f"{status['status']}: {status['reason']}")
        tx.append("confirmation.billed", {"confirmation_id": status["confirmation_id"],
                                          "insurer_ik": insurer_ik},
                  actor=actor, stream=f"confirmation:{status['confirmation_id']}")
