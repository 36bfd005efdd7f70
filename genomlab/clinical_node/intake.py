"""Intake of clinical records at a clinical data node (KDK), as ledger events.

:class:`ClinicalNode` processes record files: ``record.received`` → ``record.validated`` (or
``record.error`` naming the field; a reused tanC is refused) → ``record.pseudonymised`` (the
tanC is exchanged for the clinical-dataset pseudonym through the
:class:`genomlab.messages.PseudonymService` passed in) → ``record.stored`` (Parquet tables,
:mod:`genomlab.clinical_node.store`; delivery then confirmed) → ``record.reported`` (Prüfbericht
handed to a ``reporter``) → ``record.finished``. Rerunning after a crash resumes each record.

A record's id is a keyed hash of its tanC (:func:`get_record_id`, HMAC with a node-local
secret), never the file's name: a sender picks file names and reuses them (the synthetic world
names files after 16 hex digits of the tanC, so a name-based id would even be a join key). The
file's sha256 is kept with the record, so the same file again resumes it, while another file with
the tanC of a record that did not fail is refused without touching the record (a collision),
as is a file that cannot be read or names no valid tanC.

The states, their allowed moves and the resume rule are the ones a GRZ's submissions follow too
(:mod:`genomlab.node_intake`); a KDK does not sample for detailed QC, so a reported record is
finished at once.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> node = ClinicalNode(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}), "KDKK00001")
>>> node.get_records()
[]
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from genomlab.clinical_node import store
from genomlab.clinical_node.records import (
    TAN,
    ClinicalRecord,
    RecordRejected,
    validate_clinical_record,
)
from genomlab.crashpoints import crashpoint
from genomlab.db import read_connection
from genomlab.events import SubmittedCaseFields
from genomlab.messages import PseudonymService
from genomlab.node_approval import NodeStatusSource
from genomlab.node_intake import (
    OPEN_STATES,
    IntakeKind,
    IntakeState,
    NodeIntake,
    Reporter,
    is_due,
)
from genomlab.strict_json import JsonRefused, load_strict_json

CASE_SCHEMA: dict[str, type] = {
    "record_id": str, "clinical_pseudonym": str, "disease_type": str, "library_type": str,
    "gender": str, "birth_month": str, "ags5": str, "research_consented": bool}
"""A ``cases`` row: what the data service reads. Not the submitter, submission date and type,
coverage type or model-project consent: the data service needs none of them, and the first four
(which a GRZ keeps too) linked a KDK's records to a GRZ's submissions (issue 21)."""
DIAGNOSIS_SCHEMA: dict[str, type] = {
    "record_id": str, "clinical_pseudonym": str, "system": str, "code": str}
PHENOTYPE_SCHEMA: dict[str, type] = {"record_id": str, "clinical_pseudonym": str, "hpo": str}
PART_SCHEMA: dict[str, type] = {
    "record_id": str, "clinical_pseudonym": str, "part": str, "json": str}
"""A ``parts`` row: one part of the official dataset as stored (sorted-key JSON)."""
TABLE_SCHEMAS = {"cases": CASE_SCHEMA, "diagnoses": DIAGNOSIS_SCHEMA,
                 "phenotypes": PHENOTYPE_SCHEMA, "parts": PART_SCHEMA}


RECORD_ID_SECRET = "record-id"
"""The node-local secret (in the KDK's key folder) that record ids are keyed with."""


@dataclass(frozen=True)
class FileOutcome:
    """What intake made of one record file: its record (``None`` if refused) and the record's
    state, or ``refused`` with ``message`` (no record changed)."""

    record_id: str | None
    state: str
    message: str = ""


def get_record_id(secret: bytes, tan_c: str) -> str:
    """A KDK's record id of a tanC: ``rec-`` and 32 hex digits of HMAC-SHA256(secret, tanC).

    Not the file name (which a sender picks and may reuse), and not a plain hash of the tanC
    either: keyed with a node-local secret, it is no join key for anyone else who knows the tanC.

    Examples
    --------
    >>> get_record_id(b"k" * 32, "AB" * 32) == get_record_id(b"k" * 32, "ab" * 32)
    True
    >>> get_record_id(b"k" * 32, "ab" * 32) != get_record_id(b"j" * 32, "ab" * 32)
    True
    """
    digest = hmac.new(secret, tan_c.lower().encode(), hashlib.sha256).hexdigest()
    return f"rec-{digest[:32]}"


def get_tan_hash(tan_c: str) -> str:
    """The sha256 of a tanC (lower case), as ``kdk_records.tan_hash`` keeps it."""
    return hashlib.sha256(tan_c.lower().encode()).hexdigest()


def get_case_fields(record: ClinicalRecord) -> SubmittedCaseFields:
    """The Prüfbericht's case fields of a validated record (reported, not kept)."""
    return SubmittedCaseFields(
        submitter_id=record.submitter_id, submission_date=record.submission_date,
        submission_type=record.submission_type, disease_type=record.disease_type,
        coverage_type=record.coverage_type, library_type=record.library_type)


def read_record_file(path: Path) -> tuple[Any, str]:
    """A record file's parsed JSON and the sha256 of its bytes.

    Raises :class:`RecordRejected` (field ``record``, or the duplicated key) if it cannot be
    read as JSON the way :func:`genomlab.strict_json.load_strict_json` reads it.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordRejected(path.name, "record", f"cannot read: {exc.strerror or exc}") from exc
    try:
        return load_strict_json(data), hashlib.sha256(data).hexdigest()
    except JsonRefused as exc:
        raise RecordRejected(path.name, "record" if exc.field == "document" else exc.field,
                             exc.detail) from exc


def read_tan_c(raw: Any, source: str) -> str:
    """The record's tanC (lower case); :class:`RecordRejected` naming ``metaData.tanC`` if it
    has none or not 64 hex digits."""
    meta = raw.get("metaData") if isinstance(raw, dict) else None
    tan_c = meta.get("tanC") if isinstance(meta, dict) else None
    if not isinstance(tan_c, str) or not TAN.match(tan_c):
        raise RecordRejected(source, "metaData.tanC",
                             f"{tan_c!r} is not a valid tanC (64 hex digits)")
    return tan_c.lower()


def _polars_schema(schema: dict[str, type]) -> dict[str, Any]:
    import polars as pl

    return {k: pl.Boolean if v is bool else pl.String for k, v in schema.items()}


class ClinicalNode(NodeIntake):
    """One KDK: its ledger, record table and Parquet clinical tables."""

    intake_kind = IntakeKind("kdk", "record", store.records, "record_id",
                             store.CLINICAL_NODE_LEDGER, "clinical", samples_for_detailed_qc=False)

    def get_records(self) -> list[dict[str, Any]]:
        """All record rows (dicts), ordered by record id."""
        return self.list_items()

    def read_table(self, table: str, *, pseudonyms: Sequence[str] | None = None,
                   store_name: str = "consented") -> Any:
        """A clinical table as a polars DataFrame, optionally only some clinical pseudonyms, in
        write order (columns an older home's file still has are not read).

        ``store_name="consented"`` (research-consented records) is what a data service reads.
        """
        import polars as pl

        path = store.get_table_path(self.institution.directory, store_name, table)
        schema = TABLE_SCHEMAS[table]
        frame = (pl.read_parquet(path).select(list(schema)) if path.exists()
                 else pl.DataFrame(schema=_polars_schema(schema)))
        if pseudonyms is not None:
            frame = frame.filter(pl.col("clinical_pseudonym").is_in(list(pseudonyms)))
        return frame

    def submit(self, files: Sequence[Path], service: PseudonymService, *,
               reporter: Reporter,
               node_status: NodeStatusSource | None = None) -> dict[str, FileOutcome]:
        """Run (or resume) intake of record files; returns each file (as given) → its outcome.

        A file is refused, and no record changes, if it cannot be read, names no valid tanC, or
        its tanC belongs to a record that came from another file (a collision). A KDK the
        platform does not approve now (``node_status``, default this home's platform) is refused
        before any file is read.
        """
        self.check_node_approved(node_status)
        with self.intake_lock():
            outcomes: dict[str, FileOutcome] = {}
            parsed: dict[str, ClinicalRecord | None] = {}
            for path in files:
                try:
                    record_id, record = self._admit(Path(path))
                except RecordRejected as exc:
                    outcomes[str(path)] = FileOutcome(None, "refused", str(exc))
                    continue
                outcomes[str(path)] = FileOutcome(record_id, "received")
                if parsed.get(record_id) is None:
                    parsed[record_id] = record
            crashpoint("kdk.received")
            for record_id, record in parsed.items():
                if record is not None:
                    self._pseudonymise(record_id, record, service)
            self._store(parsed, service)
            for record_id, record in parsed.items():
                if record is not None:
                    self.report(record_id, record.tan_c, get_case_fields(record), reporter)
            return {path: outcome if outcome.record_id is None
                    else FileOutcome(outcome.record_id, str(self.get_state(outcome.record_id)))
                    for path, outcome in outcomes.items()}

    def get_record_id(self, tan_c: str) -> str:
        """The record id of a tanC: a keyed hash with this node's secret (see :func:`
        get_record_id`)."""
        return get_record_id(self.institution.keys().secret(RECORD_ID_SECRET), tan_c)

    def _admit(self, path: Path) -> tuple[str, ClinicalRecord | None]:
        """The id of the record ``path`` belongs to and, if a later step still needs it, the
        validated record (after recording ``received`` and the checks).

        Raises :class:`RecordRejected` (and records nothing) if the file cannot be read, names no
        valid tanC, or another file already brought a record with its tanC.
        """
        raw, digest = read_record_file(path)
        tan_c = read_tan_c(raw, path.name)
        record_id, state = self._find_record(path, tan_c, digest)
        if state is None:
            state = self.begin(record_id, {"source_digest": digest})
        if state not in OPEN_STATES:
            return record_id, None
        try:
            record = validate_clinical_record(raw, source=f"{path.name} (record {record_id})")
            if record.node_id != self.node_id:
                raise RecordRejected(path.name, "metaData.submission.clinicalDataNodeId",
                                     f"names {record.node_id}, but this is {self.node_id}")
        except RecordRejected as exc:
            self.advance(record_id, "error", {"field": exc.field, "message": exc.detail})
            return record_id, None
        if not is_due(state, "validate"):
            return record_id, record
        validated = self.record_validation(
            record_id, get_tan_hash(tan_c), {"research_consented": record.research_consented},
            lambda first: {"field": "metaData.tanC", "message": f"tanC already used by {first}"})
        return record_id, record if validated else None

    def _find_record(self, path: Path, tan_c: str, digest: str) -> tuple[str, IntakeState | None]:
        """The record a file with ``tan_c`` and content ``digest`` belongs to, and its state
        (``None``: a new record under that id).

        The same file again (same digest) resumes its record; so does, in a home made before
        record ids were keyed hashes, the file a row is named after. Another file with the tanC
        of a record that did not fail is a collision and refused; after a failed one it starts
        a new record (``<id>-2``, …), so a corrected file goes through.
        """
        base, tan_hash, key = self.get_record_id(tan_c), get_tan_hash(tan_c), self.items.c.record_id
        with read_connection(self.ledger.engine) as conn:
            rows = conn.execute(select(self.items).where(
                (self.items.c.tan_hash == tan_hash) | (key == base) | key.like(f"{base}-%")
                | ((key == path.stem) & self.items.c.source_digest.is_(None))
            ).order_by(self.items.c.received_at)).all()
        for row in rows:
            if row.source_digest == digest or (
                    row.source_digest is None and row.record_id == path.stem
                    and (row.tan_hash == tan_hash
                         or (row.tan_hash is None and row.state in OPEN_STATES))):
                return row.record_id, row.state
        mine = [row for row in rows if row.tan_hash == tan_hash
                or row.record_id == base or row.record_id.startswith(f"{base}-")]
        live = [row for row in mine if row.state != "error"]
        if live:
            raise RecordRejected(
                path.name, "metaData.tanC", f"record {live[0].record_id} ({live[0].state}) "
                "already came from another file with this tanC; file refused, record unchanged")
        taken = {row.record_id for row in mine}
        return next(rid for n in range(1, len(taken) + 2)
                    if (rid := base if n == 1 else f"{base}-{n}") not in taken), None

    def _pseudonymise(self, record_id: str, record: ClinicalRecord,
                      service: PseudonymService) -> None:
        if not is_due(self.get_state(record_id), "pseudonymise"):
            return
        pseudonym = service.exchange_case_number(record.tan_c, node_id=self.node_id,
                                                 domain="clinical")
        self.advance(record_id, "pseudonymised", {
            "clinical_pseudonym": pseudonym,
            "store": "consented" if record.research_consented else "nonconsented"})

    def _replace_corrected(self, pending: dict[str, tuple[ClinicalRecord, Any]]) -> None:
        """A correction (GenDV § 5) replaces the person's earlier records: their rows leave
        the tables before the corrected record counts as stored (a crash in between repeats
        the erasure, which then finds nothing)."""
        from genomlab.clinical_node.erasure import erase_clinical_datasets

        corrected = {row.clinical_pseudonym: rid for rid, (rec, row) in pending.items()
                     if rec.submission_type == "correction"}
        if corrected:
            erase_clinical_datasets(self, set(corrected), reason="correction",
                                    keep_records=set(pending))

    def _store(self, parsed: dict[str, ClinicalRecord | None],
               service: PseudonymService) -> None:
        pending = {rid: (rec, row) for rid, rec in parsed.items()
                   if rec is not None and (row := self.get_item(rid)) is not None
                   and is_due(row.state, "store")}
        for store_name in store.STORES:
            part = {rid: v for rid, v in pending.items() if v[1].store == store_name}
            if not part:
                continue
            rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLE_SCHEMAS}
            for rid, (rec, row) in part.items():
                key = {"record_id": rid, "clinical_pseudonym": row.clinical_pseudonym}
                rows["cases"].append({**key, **{c: getattr(rec, c) for c in CASE_SCHEMA
                                                if c not in key}})
                rows["diagnoses"] += [{**key, **d} for d in rec.diagnoses]
                rows["phenotypes"] += [{**key, "hpo": h} for h in rec.phenotypes]
                rows["parts"] += [{**key, "part": name, "json": json.dumps(
                    value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)}
                    for name, value in rec.parts.items()]
            for table, schema in TABLE_SCHEMAS.items():
                store.replace_rows(store.get_table_path(self.institution.directory, store_name,
                                                        table),
                                   rows[table], _polars_schema(schema))
        crashpoint("kdk.stored")
        self._replace_corrected(pending)
        if pending:
            self.ledger.append("record.stored", {"record_ids": sorted(pending)},
                               actor=self.actor)
        for rec, row in pending.values():
            self.confirm_delivery(service, rec.tan_c, row.clinical_pseudonym)
