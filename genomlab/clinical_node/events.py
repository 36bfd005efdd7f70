"""A clinical data node's (KDK's) declared events: record intake (one declared type, one payload
model; see :mod:`genomlab.events`). The tanC appears only as a sha256; no genome pseudonym and no
identity field is declared.
"""

from __future__ import annotations

from genomlab.events import EventPayload, declare


class RecordRef(EventPayload):
    """``record.finished``: the record id only."""

    record_id: str


class RecordReceived(EventPayload):
    """``record.received``: the record id and the sha256 of the file's bytes (what tells a rerun
    of the same file from another file with the same tanC; absent in events of older homes)."""

    record_id: str
    source_digest: str | None = None


class RecordError(EventPayload):
    record_id: str
    field: str
    message: str


class ValidatedRecord(EventPayload):
    """The ``kdk_records`` columns a validated record fills: the tanC's sha256 and the consent.

    The Prüfbericht's case fields (submitter, submission date and type, disease, coverage and
    library type) go to the platform at intake and are not recorded: together they linked a
    KDK's records to a GRZ's submissions (issue 21). Events of homes made before revision 0005
    still carry them; the projection ignores them.
    """

    tan_hash: str
    research_consented: bool
    submitter_id: str | None = None
    submission_date: str | None = None
    submission_type: str | None = None
    disease_type: str | None = None
    coverage_type: str | None = None
    library_type: str | None = None


class RecordValidated(EventPayload):
    record_id: str
    fields: ValidatedRecord


class RecordPseudonymised(EventPayload):
    record_id: str
    clinical_pseudonym: str
    store: str


class RecordsStored(EventPayload):
    record_ids: list[str]


class RecordsErased(EventPayload):
    """``records.erased``: these records' rows left every clinical table (withdrawal, deletion
    request, end of retention, or a correction that replaced them)."""

    record_ids: list[str]
    reason: str


class RecordReported(EventPayload):
    record_id: str
    confirmation_id: str


CLINICAL_NODE_EVENTS = declare("kdk", {
    "record.received": RecordReceived,
    "record.validated": RecordValidated,
    "record.error": RecordError,
    "record.pseudonymised": RecordPseudonymised,
    "record.stored": RecordsStored,
    "records.erased": RecordsErased,
    "record.reported": RecordReported,
    "record.finished": RecordRef,
})
"""Every event type a KDK's ledger accepts."""
