"""Prüfbericht in, signed Meldebestätigung out (GenDV § 6(2)–(5)).

A data node hands in BfArM's Prüfbericht (``grz_pydantic_models.pruefbericht.Pruefbericht``,
JSON ``{"SubmittedCase": {...}}``). The platform checks that the sender is an approved node, that
the report names the sender as ``dataNodeId`` and the data category fits the node kind, and that
the TAN was not confirmed before. It then answers with a Meldebestätigung for the hospital: a
:class:`genomlab.messages.SignedDocument` of kind ``meldebestaetigung`` signed with the platform
key ``confirmation`` (Ed25519). Its body has the fields GenDV § 6(3) lists (id, date, type of
report, completeness, sequencing type, clinical vs genomic, oncological vs rare disease) plus
what the hospital needs to bill (TAN, IK, node) and the IBE string of the known wire format.

The platform keeps only a sha256 of the TAN (the VN is not stored: GenDV § 6(5)). Handing in the
same Prüfbericht again returns the same document (Ed25519 is deterministic), so a node that
crashed after sending may resend; a different report for a confirmed TAN is a conflict, except
a passed report from the same node after a failed one (a corrected resubmission): it gets a new,
complete Meldebestätigung that replaces the incomplete one (``replaces`` in the event).

A health insurer verifies a Meldebestätigung with only the platform's public key
(``<home>/platform/keys/confirmation.pub.pem``): :func:`verify_confirmation_bytes`. The file is
the canonical JSON of the document, so any altered byte is refused.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.nodes import NodeRegistry
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> NodeRegistry(config).ensure_approved("KDKK00001", name="KDK", actor="op")
>>> report = {"SubmittedCase": {"submissionDate": "2025-07-01", "submissionType": "initial",
...     "tan": "ab" * 32, "submitterId": "260530103", "dataNodeId": "KDKK00001",
...     "diseaseType": "rare", "dataCategory": "clinical", "libraryType": "wgs",
...     "coverageType": "GKV", "dataQualityCheckPassed": True}}
>>> doc = receive_pruefbericht(config, "KDKK00001", report, actor="node:KDKK00001")
>>> pem = get_confirmation_public_key_pem(config)
>>> body = verify_confirmation_bytes(confirmation_bytes(doc), pem)
>>> body["data_category"], body["complete"]
('clinical', True)
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, func, select

from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.errors import ConflictError, GenomlabError, ValidationFailed
from genomlab.institution import Institution
from genomlab.keys import load_public_key
from genomlab.ledger import Ledger, canonical_json
from genomlab.messages import SignatureError, SignedDocument, sign_document, verify_document
from genomlab.platform.mb_format import format_ibe_string, next_leistungsdatum
from genomlab.platform.nodes import (
    confirmations_table,
    get_node_kind,
    open_registry_ledger,
    require_approved,
)

CONFIRMATION_KEY = "confirmation"
"""Platform key that signs Meldebestätigungen (public: ``platform/keys/confirmation.pub.pem``)."""
CONFIRMATION_KIND = "meldebestaetigung"

MELDUNG_TYPES = {"initial": "Erstmeldung", "followup": "Verlaufsmeldung",
                 "addition": "Nachmeldung", "correction": "Korrektur", "test": "Test"}
"""Submission type → Typ der Meldung (the IBE codes are :mod:`genomlab.platform.mb_format`'s)."""
SEQUENCING_TYPES = {"wgs": "WGS", "wgs_lr": "WGS long-read", "wes": "WES",
                    "panel": "large panel", "none": "none"}
DATA_CATEGORY_BY_KIND = {"grz": "genomic", "kdk": "clinical"}


def parse_pruefbericht(report: dict[str, Any], *, source: str = "Prüfbericht") -> dict[str, Any]:
    """Validate ``report`` with BfArM's model; return the ``SubmittedCase`` (camelCase JSON).

    Raises :class:`ValidationFailed` naming the first bad field.

    Examples
    --------
    >>> parse_pruefbericht({"SubmittedCase": {}})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValidationFailed: Prüfbericht: field SubmittedCase.submissionDate: Field required
    """
    from grz_pydantic_models.pruefbericht import Pruefbericht

    try:
        model = Pruefbericht.model_validate(report)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "SubmittedCase"
        raise ValidationFailed(f"{source}: field {field}: {first['msg']}") from exc
    return model.model_dump(mode="json", by_alias=True)["SubmittedCase"]


def tan_hash(tan: str) -> str:
    """sha256 hex of the upper-case TAN: what the platform keeps instead of the VN."""
    return hashlib.sha256(tan.upper().encode()).hexdigest()


def build_confirmation_body(case: dict[str, Any], *, confirmation_id: str, issued_on: str,
                            leistungsdatum: str | None = None) -> dict[str, Any]:
    """The Meldebestätigung body for a validated ``SubmittedCase``.

    ``leistungsdatum`` is ``JJJJMMTT`` plus the hospital's running counter of the day
    (:func:`genomlab.platform.mb_format.next_leistungsdatum`); a confirmation recorded before the
    counter existed is numbered 000.

    Examples
    --------
    >>> case = {"submissionDate": "2025-07-01", "submissionType": "initial", "tan": "AB" * 32,
    ...         "submitterId": "260530103", "dataNodeId": "GRZK00001", "diseaseType": "rare",
    ...         "dataCategory": "genomic", "libraryType": "wgs", "coverageType": "GKV",
    ...         "dataQualityCheckPassed": True}
    >>> body = build_confirmation_body(case, confirmation_id="MB0000000001",
    ...                                issued_on="2025-07-02", leistungsdatum="20250702003")
    >>> body["ibe_string"].split("+")[2]
    '0000000001&20250702003&260530103&GRZK00001&0&R&9&1&G&1&1'
    """
    label = MELDUNG_TYPES[case["submissionType"]]
    code = confirmation_id[-10:]
    ibe = format_ibe_string(
        code=code, leistungsdatum=leistungsdatum or issued_on.replace("-", "") + "000",
        submitter_id=case["submitterId"], data_node_id=case["dataNodeId"],
        submission_type=case["submissionType"], disease_type=case["diseaseType"],
        coverage_type=case["coverageType"], data_category=case["dataCategory"],
        library_type=case["libraryType"], qc_passed=bool(case["dataQualityCheckPassed"]))
    return {
        "confirmation_id": confirmation_id,
        "date": issued_on,
        "meldung_type": case["submissionType"],
        "meldung_type_label": label,
        "complete": bool(case["dataQualityCheckPassed"]),
        "sequencing_type": SEQUENCING_TYPES[case["libraryType"]],
        "data_category": case["dataCategory"],
        "indication": case["diseaseType"],
        "tan": case["tan"],
        "submitter_id": case["submitterId"],
        "data_node_id": case["dataNodeId"],
        "submission_date": case["submissionDate"],
        "coverage_type": case["coverageType"],
        "ibe_string": ibe,
    }


def is_correction_of(confirmed: Any, fields: dict[str, Any]) -> bool:
    """Whether a report with ``fields`` is a corrected resubmission of the ``confirmed`` one:
    the same node, the earlier one failed QC (an incomplete Meldebestätigung) and this passed.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> failed = SimpleNamespace(node_id="GRZK00001", qc_passed=False)
    >>> is_correction_of(failed, {"node_id": "GRZK00001", "qc_passed": True})
    True
    >>> is_correction_of(failed, {"node_id": "GRZK00002", "qc_passed": True})
    False
    """
    return (confirmed.node_id == fields["node_id"] and not confirmed.qc_passed
            and bool(fields["qc_passed"]))


def get_next_leistungsdatum(conn: Connection, submitter_id: str, day: str) -> str:
    """The next ``JJJJMMTTZZZ`` of hospital ``submitter_id`` on ``day`` (its running counter).

    A corrected report replaces the failed one's row but gets a higher number than it, so no
    number of the day is handed out twice.
    """
    stem = day.replace("-", "")
    column = confirmations_table.c.leistungsdatum
    highest = conn.execute(select(func.max(column)).where(  # counters are zero-padded: the
        confirmations_table.c.submitter_id == submitter_id,  # highest text is the highest number
        column >= stem + "000", column <= stem + "999")).scalar()
    return next_leistungsdatum(day, [highest])


def _refuse(ledger: Ledger, node_id: str, reason: str, error: GenomlabError,
            actor: str) -> GenomlabError:
    ledger.append("pruefbericht.refused", {"node_id": node_id, "reason": reason},
                  actor=actor, stream=f"node:{node_id}")
    return error


def _check_report(node_id: str, report: dict[str, Any]) -> dict[str, Any]:
    """The submitted case of ``node_id``'s Prüfbericht ``report``; ValidationFailed if it is
    invalid, names another node or the wrong data category, or its TAN is redacted."""
    case = parse_pruefbericht(report, source=f"Prüfbericht from {node_id}")
    if case["dataNodeId"] != node_id:
        raise ValidationFailed(f"Prüfbericht from {node_id}: field SubmittedCase.dataNodeId "
                               f"names {case['dataNodeId']}")
    expected = DATA_CATEGORY_BY_KIND.get(get_node_kind(node_id))
    if case["dataCategory"] != expected:
        raise ValidationFailed(f"Prüfbericht from {node_id}: field SubmittedCase.dataCategory"
                               f" must be {expected}, got {case['dataCategory']}")
    if case["tan"].strip("0") == "":
        raise ValidationFailed(f"Prüfbericht from {node_id}: field SubmittedCase.tan is "
                               "redacted")
    return case


def receive_pruefbericht(config: GenomlabConfig, node_id: str, report: dict[str, Any], *,
                         actor: str, ledger: Ledger | None = None,
                         authorize: Callable[[Connection], object] | None = None
                         ) -> SignedDocument:
    """Check a Prüfbericht from ``node_id`` and return the signed Meldebestätigung.

    Refusals (node not approved, invalid report, wrong node or category, redacted TAN) are
    recorded as ``pruefbericht.refused`` and raised. A long-lived caller (the platform service)
    passes the platform ledger it holds open; otherwise it is opened here.

    ``authorize`` (the platform service: the caller's token against the platform's records
    now, :meth:`genomlab.platform.access_tokens.AccessTokenAuthority.check_records`) is called
    first, with the connection of the upload's own write transaction: nothing can change between
    that check and the write, and the store is not read a second time for it. What it raises
    is raised as it is, before the report is looked at, and nothing is recorded.
    """
    ledger = ledger or open_registry_ledger(config)
    authorized = authorize is None
    try:
        with ledger.transaction() as tx:
            if authorize is not None:
                authorize(tx.conn)
                authorized = True
            case = _check_report(node_id, report)
            require_approved(tx.conn, node_id)
            digest = tan_hash(case["tan"])
            row = tx.conn.execute(select(confirmations_table).where(
                confirmations_table.c.tan_hash == digest)).first()
            fields = {"node_id": node_id, "data_category": case["dataCategory"],
                      "submission_type": case["submissionType"],
                      "submission_date": case["submissionDate"],
                      "submitter_id": case["submitterId"], "disease_type": case["diseaseType"],
                      "library_type": case["libraryType"], "coverage_type": case["coverageType"],
                      "qc_passed": bool(case["dataQualityCheckPassed"])}
            if row is not None and not is_correction_of(row, fields):
                if any(getattr(row, key) != value for key, value in fields.items()):
                    raise ConflictError(f"Prüfbericht from {node_id}: field SubmittedCase.tan "
                                        "was already confirmed with other content")
                confirmation_id, issued_on = row.confirmation_id, row.issued_at[:10]
                leistungsdatum = row.leistungsdatum
            else:
                confirmation_id = "MB" + secrets.token_hex(8).upper()
                replaces = {} if row is None else {"replaces": row.confirmation_id}
                leistungsdatum = get_next_leistungsdatum(tx.conn, case["submitterId"],
                                                         ledger.clock().astimezone(UTC).date().isoformat())
                event = tx.append("pruefbericht.confirmed", {
                    "confirmation_id": confirmation_id, "tan_hash": digest, **fields,
                    "leistungsdatum": leistungsdatum, **replaces},
                    actor=actor, stream=f"node:{node_id}")
                issued_on = event.recorded_at[:10]
                crashpoint("pruefbericht.appended")  # in the transaction, before the commit
    except GenomlabError as exc:
        if not authorized:
            raise  # the caller was refused: nothing about its report is recorded
        raise _refuse(ledger, node_id, str(exc), exc, actor) from exc
    crashpoint("pruefbericht.committed")  # recorded, not yet answered
    key = Institution(config, "platform").keys().signing_key(CONFIRMATION_KEY)
    body = build_confirmation_body(case, confirmation_id=confirmation_id, issued_on=issued_on,
                                   leistungsdatum=leistungsdatum)
    return sign_document(CONFIRMATION_KIND, body, key)


def get_confirmation_public_key_pem(config: GenomlabConfig) -> bytes:
    """The platform's public confirmation key (PEM), as handed to health insurers."""
    return Institution(config, "platform").keys().public_key_path(CONFIRMATION_KEY).read_bytes()


def confirmation_bytes(document: SignedDocument) -> bytes:
    """The file form of a Meldebestätigung: canonical JSON, so every byte is significant."""
    return canonical_json(document.model_dump(mode="json")).encode()


def verify_confirmation_bytes(data: bytes, public_key_pem: bytes) -> dict[str, Any]:
    """Verify a Meldebestätigung file with only the platform's public key; return its body.

    Raises :class:`genomlab.messages.SignatureError` if any byte differs from what was signed
    (including whitespace: the file must be the canonical JSON of the signed document).
    """
    try:
        document = SignedDocument.model_validate(json.loads(data))
        public_key = load_public_key(public_key_pem)
    except (ValueError, ValidationError) as exc:
        raise SignatureError(f"meldebestaetigung: not a signed document: {exc}") from exc
    if confirmation_bytes(document) != data:
        raise SignatureError("meldebestaetigung: file differs from the signed canonical form")
    return verify_document(document, public_key, kind=CONFIRMATION_KIND)
