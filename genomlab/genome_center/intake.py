"""Intake of GRZ submissions: the state machine as ledger events, genotypes in batches.

:class:`GenomeCenter` processes inbox folders (``<dir>/metadata/metadata.json`` + ``files/``):

0. a folder is refused, with one line and nothing recorded, if its ``metadata.json`` cannot be
   read (missing, not UTF-8, nested too deep, a duplicate key, not JSON:
   :mod:`genomlab.strict_json`), its ``files/`` is a link (it would bring another
   submission's files), or its inbox id already names a validated submission with another
   tanG (a folder named like an old one must not resume it);
1. ``submission.received``;
2. ``submission.validated`` after basic QC (:mod:`genomlab.genome_center.metadata`: model,
   thresholds, files through BfArM's grz-check (in-process; on the grzctl path grzctl's
   ``validate`` ran it); :mod:`genomlab.genome_center.vcf_check`: every VCF's compression,
   contigs, records and donor columns; grz-db's refusals), else ``submission.error``;
3. ``submission.pseudonymised``: each donor's case reference is exchanged for its
   genome-dataset pseudonym through the :class:`genomlab.messages.PseudonymService` the caller
   passes in (the GRZ never sees the trust centre's code);
4. ``genotypes.batch_stored`` + ``submission.stored``: one new MatrixTable per consent store for
   all submissions of the run (:mod:`genomlab.genome_center.genotypes`), then the delivery is
   confirmed to the trust centre; a submission whose genotypes fail to import goes to
   ``submission.error`` alone (:mod:`genomlab.genome_center.batches`);
5. ``submission.reported``: the Prüfbericht (BfArM model) is handed to a ``reporter`` callable
   (the platform, wired by the composition root) that returns the Meldebestätigung; a rejected
   submission whose metadata still gives a Prüfbericht is reported with
   ``dataQualityCheckPassed: false`` (``submission.failure_reported``), except a reused tanG;
6. ``submission.qc_sampled`` by grz-db's selection for detailed QC (``should_qc``); a
   submission not selected is ``finished``. A selected one waits in ``qc_selected`` for
   detailed QC (GRZ_QC_Workflow's re-computation from reads), which this path does not run.

grz-db (:mod:`genomlab.genome_center.grz_record`) is the GRZ's submission record: in-process,
step 2 registers each submission there as grzctl's ``download`` and ``validate`` would, and
grz-db refuses a reused tanG (``duplicate_tang``) and a case's second initial
(``duplicate_initial``); on the grzctl path grzctl has done that, and genomlab reads grz-db's
selection. genomlab's own refusals (step 0, files, VCF contents, genotype import) are recorded
in grz-db as ``Error`` too (in-process).

Each step is recorded once; rerunning the same folders after a crash resumes every submission
from its last recorded state, its files checked again (in-process grz-check runs again: a file
changed since validation refuses the folder; on the grzctl path grzctl has downloaded, decrypted
and validated them afresh; a VCF whose content fails the checks moves the submission to
``error``; a batch written but not indexed is deleted and rewritten), so nothing is duplicated
or lost. A failed submission frees
its tanG: a corrected resubmission in a new folder goes through. One intake per GRZ runs at a
time (a lock file). The states, their allowed moves and the resume rule are the ones a KDK's records
follow too (:mod:`genomlab.node_intake`).

The case reference of a donor is the submission's tanG for the index donor and
``<tanG>:<donorPseudonym>`` for a relative (the metadata carries one TAN per submission).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select

from genomlab.crashpoints import crashpoint
from genomlab.db import read_connection
from genomlab.errors import ConflictError
from genomlab.events import SubmittedCaseFields
from genomlab.genome_center import genotypes, store
from genomlab.genome_center.batches import BatchWriter
from genomlab.genome_center.grz_record import GrzDb, GrzDbRefusal
from genomlab.genome_center.metadata import (
    SubmissionRejected,
    check_files_folder,
    check_submission_files,
    get_index_library_type,
    read_metadata_json,
    validate_metadata,
)
from genomlab.genome_center.vcf_check import check_submission_vcfs
from genomlab.hail_session import HailModule
from genomlab.home import get_home_relative, resolve_in_home
from genomlab.messages import PseudonymService
from genomlab.node_approval import NodeStatusSource
from genomlab.node_intake import (
    OPEN_STATES,
    IntakeKind,
    NodeIntake,
    Reporter,
    is_due,
    validate_pruefbericht,
)

PAUSE_ENV = "GL_INTAKE_PAUSE_AT"
"""Test hook (not ``GENOMLAB_*``: the configuration would read it as a key): the step at which
intake prints ``PAUSED <step>`` and sleeps, so a test can kill it there (``pseudonymised``,
``batch_written``, ``stored``)."""


def pause_point(step: str) -> None:
    """Sleep at ``step`` if the test hook asks for it (see :data:`PAUSE_ENV`)."""
    crashpoint(f"grz.{step}")
    if os.environ.get(PAUSE_ENV) == step:
        print(f"PAUSED {step}", flush=True)
        time.sleep(3600)


def donor_case_reference(tan_g: str, donor_pseudonym: str, relation: str) -> str:
    """The case reference the GRZ presents for a donor.

    Examples
    --------
    >>> donor_case_reference("ab" * 32, "S00003", "mother")[-7:]
    ':S00003'
    """
    return tan_g if relation == "index" else f"{tan_g}:{donor_pseudonym}"


def tan_digest(tan_g: str) -> str:
    """sha256 of the lower-case tanG: what the GRZ keeps to refuse a reused TAN."""
    return hashlib.sha256(tan_g.lower().encode()).hexdigest()


def get_case_fields(model: Any) -> SubmittedCaseFields:
    """The Prüfbericht's case fields of a validated submission's metadata (the exact date)."""
    sub = model.submission
    return SubmittedCaseFields(
        submitter_id=sub.submitter_id, submission_date=sub.submission_date.isoformat(),
        submission_type=str(sub.submission_type), disease_type=str(sub.disease_type),
        coverage_type=str(sub.coverage_type), library_type=get_index_library_type(model))


def _is_correction(checked: Any) -> bool:
    """Whether a validated submission is a correction (GenDV § 5: it replaces the data)."""
    return str(checked.metadata.submission.submission_type) == "correction"


def _error_payload(exc: SubmissionRejected) -> dict[str, str]:
    """The ``submission.error`` payload of a rejection: reason, field and message."""
    return {"failure_reason": exc.reason, "field": exc.field, "message": exc.detail}


@dataclass
class IntakeSummary:
    """What one intake run did: per inbox id, its final state (and error reasons)."""

    states: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    """Folder → one-line reason, for folders refused before anything was recorded."""

    @property
    def n_accepted(self) -> int:
        return sum(1 for s in self.states.values() if s != "error")


class GenomeCenter(NodeIntake):
    """One GRZ: its ledger, tables and genotype store.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> grz = GenomeCenter(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}),
    ...                    "GRZK00001")
    >>> grz.get_submissions()
    []
    """

    intake_kind = IntakeKind("grz", "submission", store.submissions, "inbox_id",
                             store.GENOME_CENTER_LEDGER, "genomic", samples_for_detailed_qc=True)
    grz_db: GrzDb
    """The GRZ's submission record during :meth:`submit` (:mod:`.grz_record`)."""

    # --- reading ----------------------------------------------------------------------

    def get_submissions(self) -> list[dict[str, Any]]:
        """All submission rows (dicts), ordered by inbox id."""
        return self.list_items()

    def get_donors(self) -> list[dict[str, Any]]:
        """All donor rows (dicts)."""
        with read_connection(self.ledger.engine) as conn:
            rows = conn.execute(select(store.donors).order_by(store.donors.c.inbox_id,
                                                              store.donors.c.donor_index)).all()
        return [dict(r._mapping) for r in rows]

    def get_batch_paths(self, store_name: str = "consented") -> list[str]:
        """Paths of the indexed genotype batches of one store, oldest first."""
        with read_connection(self.ledger.engine) as conn:
            stored = conn.execute(
                select(store.batches.c.path).where(store.batches.c.store == store_name)
                .order_by(store.batches.c.created_at, store.batches.c.batch_id)).scalars()
            return [str(resolve_in_home(self.config.home, p)) for p in stored]

    def read_genotypes(self, hl: HailModule, *, pseudonyms: Sequence[str] | None = None,
                       store_name: str = "consented") -> Any:
        """The GRZ's genotypes of one store as one MatrixTable (column key ``s`` = pseudonym).

        Parameters
        ----------
        hl:
            The Hail module from :func:`genomlab.hail_session.init_hail`.
        pseudonyms:
            Genome-dataset pseudonyms to keep (default: all in the store).
        store_name:
            ``consented`` (research-consented donors, the only store a data service reads;
            persons who withdrew research consent since are left out) or ``nonconsented``.
        """
        mt = genotypes.union_batches(hl, self.get_batch_paths(store_name))
        withdrawn = self.get_withdrawn() if store_name == "consented" else set()
        if withdrawn:
            mt = mt.filter_cols(~hl.literal(withdrawn).contains(mt.s))
        if pseudonyms is not None:
            mt = mt.filter_cols(hl.literal(set(pseudonyms)).contains(mt.s))
        return mt

    # --- intake -----------------------------------------------------------------------

    def submit(self, directories: Sequence[Path], service: PseudonymService, *,
               reporter: Reporter, hail: Callable[[], HailModule],
               progress: Callable[[str], None] = lambda _msg: None,
               node_status: NodeStatusSource | None = None,
               grz_db: GrzDb | None = None) -> IntakeSummary:
        """Run (or resume) intake of ``directories``; see the module docstring for the steps.

        ``hail`` returns the started Hail module; it is called only if genotypes are to be
        stored, so a run with nothing to store never starts Spark. A GRZ the platform does not
        approve now (``node_status``, default this home's platform) is refused first.
        ``grz_db``: the GRZ's submission record (:mod:`genomlab.genome_center.grz_record`);
        default the one genomlab writes under the GRZ's folder; grzctl's (read only) on the
        grzctl path, whose folders grzctl has registered, validated and sampled already.
        """
        self.check_node_approved(node_status)
        summary = IntakeSummary()
        with self.intake_lock():
            self.grz_db = grz_db or GrzDb.for_grz(self.institution.directory)
            checked: dict[str, Any] = {}
            admitted: list[Path] = []
            for directory in map(Path, directories):
                progress(f"validate {directory.name}")
                try:
                    checked[directory.name] = self._receive_and_validate(directory)
                except SubmissionRejected as exc:  # refused: nothing recorded
                    summary.refused[str(directory)] = str(exc)
                    continue
                admitted.append(directory)
                if checked[directory.name] is not None:
                    self._pseudonymise(directory.name, checked[directory.name], service)
            pause_point("pseudonymised")
            summary.batches = self._store_genotypes(admitted, checked, service, hail)
            for directory in admitted:
                inbox_id = directory.name
                if checked.get(inbox_id) is not None:
                    model = checked[inbox_id].metadata
                    self.report(inbox_id, model.submission.tan_g, get_case_fields(model),
                                reporter)
                self._report_failure(directory, reporter)
            self._sample_and_finish()
            for inbox_id in (d.name for d in admitted):
                row = self.get_item(inbox_id)
                assert row is not None  # every directory was received above
                summary.states[inbox_id] = row.state
                if row.state == "error":
                    summary.errors[inbox_id] = (f"{row.failure_reason}: field "
                                                f"{row.failure_field}: {row.failure_message}")
        return summary

    def _receive_and_validate(self, directory: Path) -> Any:
        """The checked metadata if a later step still needs it, after recording the checks.

        Raises :class:`SubmissionRejected`, before anything is recorded, if the metadata cannot
        be read (missing, not UTF-8, too deep, a duplicate key, not JSON), ``files/`` is a link,
        or the inbox id already names a submission with another tanG; a resumed submission's
        files are checked again in-process (grz-check; a refusal leaves it where it was).
        """
        inbox_id = directory.name
        source = f"{inbox_id}/metadata/metadata.json"
        try:
            data = (directory / "metadata" / "metadata.json").read_bytes()
        except OSError as exc:
            raise SubmissionRejected(source, "incomplete_submission", "metadata",
                                     f"cannot read: {exc.strerror or exc}") from exc
        raw = read_metadata_json(data, source=source)
        check_files_folder(directory, source=f"{inbox_id}/files")
        self._check_same_submission(inbox_id, raw, source)
        state = self.begin(inbox_id)
        if state not in OPEN_STATES:
            return None
        try:
            checked = validate_metadata(raw, source=source)
            named = checked.metadata.submission.genomic_data_center_id
            if named != self.node_id:
                raise SubmissionRejected(source, "validation_error",
                                         "submission.genomicDataCenterId",
                                         f"names {named}, but this is {self.node_id}")
        except SubmissionRejected as exc:
            return self._reject(inbox_id, exc)
        files = directory / "files"
        sid = checked.metadata.submission_id
        writes = self.grz_db.writes  # else grzctl registered and validated it in grz-db
        if not is_due(state, "validate"):
            if writes:  # the files to store are still the ones validated (grzctl's: its own)
                check_submission_files(checked.metadata, files, source=f"{inbox_id}/files")
            try:  # the files are the ones validated; a bad content is the submission's error
                check_submission_vcfs(checked.metadata, files, source=f"{inbox_id}/files")
            except SubmissionRejected as exc:
                return self._reject(inbox_id, exc, sid)
            return checked
        try:
            if writes:  # grz-db refuses a reused tanG (grzctl: at download)
                self._grz_db_step(source, lambda: self.grz_db.register(inbox_id, checked.metadata))
        except SubmissionRejected as exc:
            return self._reject(inbox_id, exc)  # grz-db recorded it, if the row is this one's
        try:
            # grzctl's validate ran grz-check on these files already; in-process it is ours to run
            size = (check_submission_files(checked.metadata, files, source=f"{inbox_id}/files")
                    if writes else checked.metadata.get_submission_size())
            check_submission_vcfs(checked.metadata, files, source=f"{inbox_id}/files")
        except SubmissionRejected as exc:
            return self._reject(inbox_id, exc, sid)
        try:
            if writes:  # grz-db refuses a case's second QC-passed initial (grzctl: validate)
                self._grz_db_step(source,
                                  lambda: self.grz_db.pass_basic_qc(inbox_id, checked.metadata))
        except SubmissionRejected as exc:
            return self._reject(inbox_id, exc)
        model = checked.metadata
        sub = model.submission
        case = get_case_fields(model)
        validated = self.record_validation(inbox_id, tan_digest(sub.tan_g), {
            **case.model_dump(exclude={"submission_date"}), "submission_id": model.submission_id,
            "submission_month": case.submission_date[:7],
            "genomic_study_type": str(sub.genomic_study_type),
            "genomic_study_subtype": str(sub.genomic_study_subtype),
            "n_donors": len(model.donors),
            "research_consented": model.consents_to_research(sub.submission_date),
            "submission_size": size, "warnings": "\n".join(checked.warnings)},
            None)  # a reused tanG: grz-db's to refuse (above, or grzctl's download)
        return checked if validated else None

    @staticmethod
    def _grz_db_step(source: str, step: Callable[[], object]) -> None:
        """Run a grz-db write; its refusal as a :class:`SubmissionRejected` of ``source``."""
        try:
            step()
        except GrzDbRefusal as exc:
            raise SubmissionRejected(source, exc.reason, exc.field, exc.message) from exc

    def _check_same_submission(self, inbox_id: str, raw: Any, source: str) -> None:
        """Refuse metadata whose tanG is not the one of the validated submission that already
        has ``inbox_id`` (a folder named like an old one must not resume it)."""
        row = self.get_item(inbox_id)
        if row is None or row.tan_hash is None:
            return
        submission = raw.get("submission") if isinstance(raw, dict) else None
        tan_g = submission.get("tanG") if isinstance(submission, dict) else None
        if not isinstance(tan_g, str) or tan_digest(tan_g) != row.tan_hash:
            raise SubmissionRejected(
                source, "validation_error", "submission.tanG",
                f"inbox id {inbox_id} is already submission {row.submission_id} ({row.state}) "
                "with another tanG; folder refused, that submission unchanged")

    def _reject(self, inbox_id: str, exc: SubmissionRejected,
                submission_id: str | None = None) -> None:
        """Record ``error``; a submission genomlab registered in grz-db is ``Error`` there."""
        if submission_id is not None and self.grz_db.writes:
            self.grz_db.fail(submission_id, inbox_id, exc.reason, f"{exc.field}: {exc.detail}")
        self.advance(inbox_id, "error", _error_payload(exc))

    def _pseudonymise(self, inbox_id: str, checked: Any, service: PseudonymService) -> None:
        if not is_due(self.get_state(inbox_id), "pseudonymise"):
            return
        model = checked.metadata
        day = model.submission.submission_date
        rows: list[dict[str, Any]] = []
        for i, donor in enumerate(model.donors):
            reference = donor_case_reference(model.submission.tan_g, donor.donor_pseudonym,
                                             str(donor.relation))
            pseudonym = service.exchange_case_number(reference, node_id=self.node_id,
                                                     domain="genomic")
            consented = bool(donor.consents_to_research(day))
            rows.append({"donor_index": i, "relation": str(donor.relation),
                         "genome_pseudonym": pseudonym, "research_consented": consented,
                         "mv_consented": bool(donor.consents_to_mv()),
                         "library_types": ",".join(sorted({str(lab.library_type)
                                                           for lab in donor.lab_data})),
                         "store": "consented" if consented else "nonconsented"})
        with self.ledger.transaction() as tx:
            self.advance(inbox_id, "pseudonymised", {"donors": rows}, tx=tx)
            for row in rows:
                if not row["research_consented"] and self._consented_before(
                        tx.conn, row["genome_pseudonym"]):
                    tx.append("donor.research_withdrawn", {
                        "inbox_id": inbox_id, "genome_pseudonym": row["genome_pseudonym"]},
                        actor=self.actor, stream=f"submission:{inbox_id}")

    @staticmethod
    def _consented_before(conn: Any, pseudonym: str) -> bool:
        consented = conn.execute(select(store.donors.c.inbox_id).join(
            store.submissions, store.submissions.c.inbox_id == store.donors.c.inbox_id).where(
            (store.donors.c.genome_pseudonym == pseudonym)
            & (store.donors.c.store == "consented")
            & (store.submissions.c.state != "error"))).first()
        withdrawn = conn.execute(select(store.withdrawals.c.genome_pseudonym).where(
            store.withdrawals.c.genome_pseudonym == pseudonym)).first()
        return consented is not None and withdrawn is None

    def get_withdrawn(self) -> set[str]:
        """Genome pseudonyms whose research consent was withdrawn by a later submission."""
        with read_connection(self.ledger.engine) as conn:
            return set(conn.execute(select(store.withdrawals.c.genome_pseudonym)).scalars())

    def _sources_of(self, directory: Path, checked: Any,
                    donor_rows: Sequence[dict[str, Any]]) -> list[genotypes.SampleSource]:
        model = checked.metadata
        names = [d.donor_pseudonym for d in model.donors]
        index = next(i for i, d in enumerate(model.donors) if d.relation == "index")
        sources: dict[int, genotypes.SampleSource] = {}
        for i, donor in enumerate(model.donors):
            for j, lab in enumerate(donor.lab_data):
                if lab.sequence_data is None or lab.sequence_subtype != "germline":
                    continue
                for k, entry in enumerate(lab.sequence_data.files):
                    if entry.file_type != "vcf":
                        continue
                    vcf = directory / "files" / entry.file_path
                    mapping = genotypes.assign_columns(genotypes.read_vcf_columns(vcf), names,
                                                       index)
                    for position, column in mapping.items():
                        if position not in sources:
                            row = donor_rows[position]
                            sources[position] = genotypes.SampleSource(
                                vcf, column, row["genome_pseudonym"], row["store"],
                                f"donors[{i}].labData[{j}].sequenceData.files[{k}]")
        return [sources[i] for i in sorted(sources)]

    def _store_genotypes(self, directories: Sequence[Path], checked: dict[str, Any],
                         service: PseudonymService, hail: Callable[[], HailModule]) -> list[str]:
        """Write the run's batches, index them and record ``stored``, or ``error`` for a
        submission whose genotypes fail to import (:mod:`genomlab.genome_center.batches`)."""
        pending = [Path(d) for d in directories
                   if checked.get(Path(d).name) is not None
                   and is_due(self.get_state(Path(d).name), "store")]
        donors_by_inbox: dict[str, list[dict[str, Any]]] = {}
        for row in self.get_donors():
            donors_by_inbox.setdefault(row["inbox_id"], []).append(row)
        stored = {r["genome_pseudonym"] for r in self.get_donors() if r["batch_id"]}
        sources = {directory.name: [  # a follow-up's person may be stored already: skipped;
            # a correction's genotypes replace the stored ones (:meth:`_replace_corrected`)
            source for source in self._sources_of(directory, checked[directory.name],
                                                  donors_by_inbox[directory.name])
            if source.pseudonym not in stored or _is_correction(checked[directory.name])]
            for directory in pending}
        corrected = {source.pseudonym for directory in pending
                     if _is_correction(checked[directory.name])
                     for source in sources[directory.name]}
        for directory in pending:  # in one run, a correction's genotypes win over the original
            if not _is_correction(checked[directory.name]):
                sources[directory.name] = [source for source in sources[directory.name]
                                           if source.pseudonym not in corrected]
        writer = BatchWriter(hail, self.institution.directory,
                             self.institution.directory / "tmp", self.get_batch_paths)
        outcome = writer.write(sources)
        pause_point("batch_written")
        with self.ledger.transaction() as tx:
            for batch in outcome.batches:
                tx.append("genotypes.batch_stored", {
                    "batch_id": batch.batch_id, "store": batch.store,
                    "path": get_home_relative(self.config.home, batch.path),
                    "n_samples": len(batch.samples), "samples": list(batch.samples)},
                    actor=self.actor)
            for directory in pending:
                if directory.name in outcome.failures:
                    field_path, message = outcome.failures[directory.name]
                    rejected = SubmissionRejected(f"{directory.name}/files", "validation_error",
                                                  field_path, message)
                    if self.grz_db.writes:
                        self.grz_db.fail(checked[directory.name].metadata.submission_id,
                                         directory.name, rejected.reason,
                                         f"{field_path}: {message}")
                    self.advance(directory.name, "error", _error_payload(rejected), tx=tx)
                else:
                    self.advance(directory.name, "stored", tx=tx)
        pause_point("stored")
        self._replace_corrected(hail)
        for directory in pending:
            if directory.name in outcome.failures:
                continue
            model = checked[directory.name].metadata
            for donor, row in zip(model.donors, donors_by_inbox[directory.name], strict=True):
                reference = donor_case_reference(model.submission.tan_g, donor.donor_pseudonym,
                                                 str(donor.relation))
                self.confirm_delivery(service, reference, row["genome_pseudonym"])
        return [batch.batch_id for batch in outcome.batches]

    def _replace_corrected(self, hail: Callable[[], HailModule]) -> None:
        """Compact a corrected person's older genotypes out of their batches (GenDV § 5).

        Looks at every stored correction, not only this run's: after a crash between indexing
        the corrected batch and compacting the old ones, the next run finishes the job.
        """
        from genomlab.genome_center.erasure import erase_genome_datasets

        with read_connection(self.ledger.engine) as conn:
            rows = conn.execute(
                select(store.donors.c.genome_pseudonym, store.donors.c.batch_id)
                .join(store.submissions,
                      store.submissions.c.inbox_id == store.donors.c.inbox_id)
                .where((store.submissions.c.submission_type == "correction")
                       & store.donors.c.batch_id.is_not(None))
                .order_by(store.submissions.c.received_at)).all()
            newest = {row.genome_pseudonym: row.batch_id for row in rows}
            older = conn.execute(select(store.donors.c.genome_pseudonym,
                                        store.donors.c.batch_id).where(
                store.donors.c.genome_pseudonym.in_(sorted(newest))
                & store.donors.c.batch_id.is_not(None))).all()
        for pseudonym, batch_id in sorted(newest.items()):
            if any(r.genome_pseudonym == pseudonym and r.batch_id != batch_id for r in older):
                erase_genome_datasets(self, hail(), {pseudonym}, reason="correction",
                                      keep_batch=batch_id)

    def get_quality_check_passed(self, row: Row[Any]) -> bool:
        """``dataQualityCheckPassed`` of a stored submission: whether it passed basic QC."""
        return bool(row.basic_qc_passed)

    def _report_failure(self, directory: Path, reporter: Reporter) -> None:
        """Report a rejected submission as ``dataQualityCheckPassed: false`` (once).

        Only if its metadata still yields a valid Prüfbericht and the rejection is not a reused
        tanG (that TAN belongs to the earlier, confirmed submission).
        """
        from grz_pydantic_models.pruefbericht import LibraryType
        from pydantic import ValidationError

        row = self.get_item(directory.name)
        if (row is None or row.state != "error" or row.confirmation_id
                or row.failure_reason == "duplicate_tang"):
            return
        try:
            raw = json.loads((directory / "metadata" / "metadata.json").read_text())
            sub = raw["submission"]
            index = next(d for d in raw["donors"] if d.get("relation") == "index")
            library = str(LibraryType.most_expensive({lab.get("libraryType", "")
                                                      for lab in index.get("labData", [])}))
            report = validate_pruefbericht({
                "submissionDate": sub["submissionDate"], "submissionType": sub["submissionType"],
                "tan": sub["tanG"], "submitterId": sub["submitterId"],
                "dataNodeId": self.node_id, "diseaseType": sub["diseaseType"],
                "dataCategory": self.intake_kind.data_category, "libraryType": library,
                "coverageType": sub["coverageType"], "dataQualityCheckPassed": False})
        except (OSError, ValueError, KeyError, TypeError, StopIteration, ValidationError):
            return
        try:
            confirmation_id = reporter(report)
        except ConflictError:
            return
        with self.ledger.transaction() as tx:
            self.record_event(directory.name, "failure_reported",
                              {"confirmation_id": confirmation_id}, tx=tx)

    def _sample_and_finish(self) -> None:
        """Record grz-db's selection for detailed QC of each reported submission (in the
        order they were validated), and finish the ones not selected.

        In-process, grz-db is asked now (``should_qc``) and learns ``Reported``/``Finished``;
        on the grzctl path grzctl asked it before archiving, and records the rest itself.
        """
        rows = [r for r in self.get_submissions() if is_due(r["state"], "finish")]
        rows.sort(key=lambda r: (r["validated_at"], r["inbox_id"]))
        for row in rows:
            inbox_id, sid = row["inbox_id"], row["submission_id"]
            if self.grz_db.writes:
                self.grz_db.record(sid, inbox_id, "Reported")
            selected = self.grz_db.is_selected(sid)
            with self.ledger.transaction() as tx:
                if selected:  # waits for detailed QC, which the in-process path does not run
                    self.advance(inbox_id, "qc_selected", {"selected": True}, tx=tx,
                                 event="qc_sampled")
                else:
                    self.record_event(inbox_id, "qc_sampled", {"selected": False}, tx=tx)
                    self.advance(inbox_id, "finished", tx=tx)
            if not selected and self.grz_db.writes:
                self.grz_db.record(sid, inbox_id, "Finished")
