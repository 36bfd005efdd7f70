"""Intake of clinical records at a clinical data node (KDK), as ledger events.

:class:`ClinicalNode` processes record files: ``record.received`` → ``record.validated`` (or
``record.error`` naming the field; a reused tanC is refused) → ``record.pseudonymised`` (the
tanC is exchanged for the clinical-dataset pseudonym through the
:class:`genomlab.messages.PseudonymService` passed in) → ``record.stored`` (Parquet tables,
:mod:`genomlab.clinical_node.store`; delivery then confirmed) → ``record.reported`` (Prüfbericht
handed to a ``reporter``) → ``record.finished``. Rerunning after a crash resumes each record.

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
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genomlab.clinical_node import store
from genomlab.clinical_node.records import ClinicalRecord, RecordRejected, validate_clinical_record
from genomlab.messages import PseudonymService
from genomlab.node_intake import OPEN_STATES, IntakeKind, NodeIntake, Reporter, is_due

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


class ClinicalNode(NodeIntake):
    """One KDK: its ledger, record table and Parquet clinical tables."""

    intake_kind = IntakeKind("kdk", "record", store.records, "record_id",
                             store.CLINICAL_NODE_LEDGER, "clinical", samples_for_detailed_qc=False)

    def get_records(self) -> list[dict[str, Any]]:
        """All record rows (dicts), ordered by record id."""
        return self.list_items()

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

    def submit(self, files: Sequence[Path], service: PseudonymService, *,
               reporter: Reporter) -> dict[str, str]:
        """Run (or resume) intake of record files; returns record id → final state."""
        with self.intake_lock():
            parsed: dict[str, ClinicalRecord | None] = {}
            for path in files:
                parsed[Path(path).stem] = self._validate(Path(path))
            for record_id, record in parsed.items():
                if record is not None:
                    self._pseudonymise(record_id, record, service)
            self._store(parsed, service)
            for record_id, record in parsed.items():
                if record is not None:
                    self.report(record_id, record.tan_c, reporter)
            return {record_id: str(self.get_state(record_id)) for record_id in parsed}

    def _validate(self, path: Path) -> ClinicalRecord | None:
        """The record of ``path`` if a later step still needs it, after recording its checks."""
        record_id = path.stem
        state = self.begin(record_id)
        if state not in OPEN_STATES:
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
            self.advance(record_id, "error", {"field": exc.field, "message": exc.detail})
            return None
        if not is_due(state, "validate"):
            return record
        validated = self.record_validation(
            record_id, hashlib.sha256(record.tan_c.encode()).hexdigest(), {
                "submitter_id": record.submitter_id, "submission_date": record.submission_date,
                "submission_type": record.submission_type, "disease_type": record.disease_type,
                "coverage_type": record.coverage_type, "library_type": record.library_type,
                "research_consented": record.research_consented},
            lambda first: {"field": "metaData.tanC", "message": f"tanC already used by {first}"})
        return record if validated else None

    def _pseudonymise(self, record_id: str, record: ClinicalRecord,
                      service: PseudonymService) -> None:
        if not is_due(self.get_state(record_id), "pseudonymise"):
            return
        pseudonym = service.exchange_case_number(record.tan_c, node_id=self.node_id,
                                                 domain="clinical")
        self.advance(record_id, "pseudonymised", {
            "clinical_pseudonym": pseudonym,
            "store": "consented" if record.research_consented else "nonconsented"})

    def _store(self, parsed: dict[str, ClinicalRecord | None],
               service: PseudonymService) -> None:
        pending = {rid: (rec, row) for rid, rec in parsed.items()
                   if rec is not None and (row := self.get_item(rid)) is not None
                   and is_due(row.state, "store")}
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
            self.confirm_delivery(service, rec.tan_c, row.clinical_pseudonym)
