"""Intake of clinical records at a clinical data node (KDK), as ledger events.

:class:`ClinicalNode` processes record files: ``record.received`` → ``record.validated`` (or
``record.error`` naming the field; a reused tanC is refused) → ``record.pseudonymised`` (the
tanC is exchanged for the clinical-dataset pseudonym through the
:class:`genomlab.messages.PseudonymService` passed in) → ``record.stored`` (Parquet tables,
:mod:`genomlab.clinical_node.store`; delivery then confirmed) → ``record.reported`` (Prüfbericht
handed to a ``reporter``) → ``record.finished``. Rerunning after a crash resumes each record.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> node = ClinicalNode(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}), "KDKK00001")
>>> node.get_records()
[]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from genomlab.clinical_node import store
from genomlab.clinical_node.records import ClinicalRecord, RecordRejected, validate_clinical_record
from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.errors import ConflictError
from genomlab.institution import Institution
from genomlab.ledger import Ledger
from genomlab.messages import PseudonymService

Reporter = Callable[[dict[str, Any]], str]
"""Hands a Prüfbericht to the platform; returns the confirmation id."""

CASE_SCHEMA: dict[str, type] = {
    "record_id": str, "clinical_pseudonym": str, "submission_date": str,
    "submission_type": str, "disease_type": str, "coverage_type": str,
    "library_type": str, "gender": str, "birth_month": str, "ags5": str,
    "mv_sequencing": bool, "research_consented": bool}
DIAGNOSIS_SCHEMA: dict[str, type] = {
    "record_id": str, "clinical_pseudonym": str, "system": str, "code": str}
PHENOTYPE_SCHEMA: dict[str, type] = {"record_id": str, "clinical_pseudonym": str, "hpo": str}


def _polars_schema(schema: dict[str, type]) -> dict[str, Any]:
    import polars as pl

    return {k: pl.Boolean if v is bool else pl.String for k, v in schema.items()}


class ClinicalNode:
    """One KDK: its ledger, record table and Parquet clinical tables."""

    def __init__(self, config: GenomlabConfig, node_id: str) -> None:
        self.config = config
        self.node_id = node_id
        self.institution = Institution(config, "kdk", node_id)
        self.ledger: Ledger = self.institution.ledger(projections=[store.PROJECTION])
        self.actor = f"kdk:{node_id}"

    def _row(self, record_id: str) -> Any:
        with read_connection(self.ledger.engine) as conn:
            return conn.execute(select(store.records)
                                .where(store.records.c.record_id == record_id)).first()

    def get_records(self) -> list[dict[str, Any]]:
        """All record rows (dicts), ordered by record id."""
        with read_connection(self.ledger.engine) as conn:
            rows = conn.execute(select(store.records).order_by(store.records.c.record_id)).all()
        return [dict(r._mapping) for r in rows]

    def read_table(self, table: str, *, pseudonyms: Sequence[str] | None = None,
                   store_name: str = "consented") -> Any:
        """A clinical table as a polars DataFrame, optionally only some clinical pseudonyms.

        ``store_name="consented"`` (research-consented records) is what a data service reads.
        """
        import polars as pl

        path = store.get_table_path(self.institution.directory, store_name, table)
        frame = pl.read_parquet(path) if path.exists() else pl.DataFrame(
            schema=_polars_schema({"cases": CASE_SCHEMA, "diagnoses": DIAGNOSIS_SCHEMA,
                                   "phenotypes": PHENOTYPE_SCHEMA}[table]))
        if pseudonyms is not None:
            frame = frame.filter(pl.col("clinical_pseudonym").is_in(list(pseudonyms)))
        return frame

    @contextmanager
    def _intake_lock(self) -> Iterator[None]:
        self.institution.directory.mkdir(parents=True, exist_ok=True)
        with (self.institution.directory / "intake.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ConflictError(f"kdk {self.node_id}: another intake is running") from exc
            yield

    def submit(self, files: Sequence[Path], service: PseudonymService, *,
               reporter: Reporter) -> dict[str, str]:
        """Run (or resume) intake of record files; returns record id → final state."""
        with self._intake_lock():
            parsed: dict[str, ClinicalRecord | None] = {}
            for path in files:
                parsed[Path(path).stem] = self._validate(Path(path))
            for record_id, record in parsed.items():
                if record is not None:
                    self._pseudonymise(record_id, record, service)
            self._store(parsed, service)
            for record_id, record in parsed.items():
                self._report(record_id, record, reporter)
            return {record_id: self._row(record_id).state for record_id in parsed}

    def _validate(self, path: Path) -> ClinicalRecord | None:
        record_id = path.stem
        row = self._row(record_id)
        stream = f"record:{record_id}"
        if row is None:
            self.ledger.append("record.received", {"record_id": record_id}, actor=self.actor,
                               stream=stream)
        elif row.state == "error":
            return None
        try:
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise RecordRejected(path.name, "record", f"cannot read JSON: {exc}") from exc
            record = validate_clinical_record(raw, source=f"{path.name} (record {record_id})")
            if record.node_id != self.node_id:
                raise RecordRejected(path.name, "metaData.submission.clinicalDataNodeId",
                                     f"names {record.node_id}, but this is {self.node_id}")
        except RecordRejected as exc:
            self.ledger.append("record.error", {"record_id": record_id, "field": exc.field,
                                                "message": exc.detail},
                               actor=self.actor, stream=stream)
            return None
        if row is not None and row.state != "received":
            return record
        digest = hashlib.sha256(record.tan_c.encode()).hexdigest()
        with self.ledger.transaction() as tx:
            reused = tx.conn.execute(select(store.records.c.record_id).where(
                (store.records.c.tan_hash == digest) & (store.records.c.record_id != record_id)
                & (store.records.c.state != "error"))).first()
            if reused is not None:
                tx.append("record.error", {"record_id": record_id, "field": "metaData.tanC",
                                           "message": f"tanC already used by {reused.record_id}"},
                          actor=self.actor, stream=stream)
                return None
            tx.append("record.validated", {"record_id": record_id, "fields": {
                "tan_hash": digest, "submitter_id": record.submitter_id,
                "submission_date": record.submission_date,
                "submission_type": record.submission_type, "disease_type": record.disease_type,
                "coverage_type": record.coverage_type, "library_type": record.library_type,
                "research_consented": record.research_consented}},
                actor=self.actor, stream=stream)
        return record

    def _pseudonymise(self, record_id: str, record: ClinicalRecord,
                      service: PseudonymService) -> None:
        if self._row(record_id).state != "validated":
            return
        pseudonym = service.exchange_case_number(record.tan_c, node_id=self.node_id,
                                                 domain="clinical")
        self.ledger.append("record.pseudonymised", {
            "record_id": record_id, "clinical_pseudonym": pseudonym,
            "store": "consented" if record.research_consented else "nonconsented"},
            actor=self.actor, stream=f"record:{record_id}")

    def _store(self, parsed: dict[str, ClinicalRecord | None],
               service: PseudonymService) -> None:
        pending = {rid: (rec, self._row(rid)) for rid, rec in parsed.items()
                   if rec is not None and self._row(rid).state == "pseudonymised"}
        for store_name in store.STORES:
            part = {rid: v for rid, v in pending.items() if v[1].store == store_name}
            if not part:
                continue
            cases, diagnoses, phenotypes = [], [], []
            for rid, (rec, row) in part.items():
                key = {"record_id": rid, "clinical_pseudonym": row.clinical_pseudonym}
                cases.append({**key, **{c: getattr(rec, c) for c in CASE_SCHEMA
                                        if c not in key}})
                diagnoses += [{**key, **d} for d in rec.diagnoses]
                phenotypes += [{**key, "hpo": h} for h in rec.phenotypes]
            for table, rows, schema in (("cases", cases, CASE_SCHEMA),
                                        ("diagnoses", diagnoses, DIAGNOSIS_SCHEMA),
                                        ("phenotypes", phenotypes, PHENOTYPE_SCHEMA)):
                store.replace_rows(store.get_table_path(self.institution.directory, store_name,
                                                        table),
                                   rows or [], _polars_schema(schema))
        if pending:
            self.ledger.append("record.stored", {"record_ids": sorted(pending)},
                               actor=self.actor)
        for rec, row in pending.values():
            try:
                service.confirm_delivery(rec.tan_c, node_id=self.node_id,
                                         pseudonym=row.clinical_pseudonym)
            except ConflictError as exc:
                if "already used" not in str(exc):
                    raise

    def build_pruefbericht(self, record_id: str, tan_c: str) -> dict[str, Any]:
        """The Prüfbericht of a stored record (BfArM model, ``dataCategory`` clinical)."""
        from grz_pydantic_models.pruefbericht import Pruefbericht

        row = self._row(record_id)
        report = {"SubmittedCase": {
            "submissionDate": row.submission_date, "submissionType": row.submission_type,
            "tan": tan_c, "submitterId": row.submitter_id, "dataNodeId": self.node_id,
            "diseaseType": row.disease_type, "dataCategory": "clinical",
            "libraryType": row.library_type, "coverageType": row.coverage_type,
            "dataQualityCheckPassed": True}}
        return Pruefbericht.model_validate(report).model_dump(mode="json", by_alias=True)

    def _report(self, record_id: str, record: ClinicalRecord | None, reporter: Reporter) -> None:
        if record is None or self._row(record_id).state != "stored":
            return
        confirmation_id = reporter(self.build_pruefbericht(record_id, record.tan_c))
        with self.ledger.transaction() as tx:
            tx.append("record.reported", {"record_id": record_id,
                                          "confirmation_id": confirmation_id},
                      actor=self.actor, stream=f"record:{record_id}")
            tx.append("record.finished", {"record_id": record_id}, actor=self.actor,
                      stream=f"record:{record_id}")
