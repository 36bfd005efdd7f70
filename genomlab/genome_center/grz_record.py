"""The GRZ's submission record: BfArM's grz-db, on both intake paths (issue 17).

grz-db (PyPI ``grz-db``, the release grzctl uses) holds the GRZ's submissions and makes BfArM's
decisions about them; genomlab keeps no copy of those rules:

- a reused tanG: grz-db's unique tanG (``DuplicateTanGError``), and a second folder of a
  submission id grz-db holds already, not failed (``DuplicateSubmissionError``; the id is made
  from the tanG, and BfArM's tools name that upload ``duplicate_tang`` too);
- a case's second initial submission that passes basic QC (``DuplicateInitialSubmissionError``,
  ``duplicate_initial``);
- the selection for detailed QC, :meth:`SubmissionDb.should_qc` (``grzctl db should-qc``) with
  grzctl's defaults: 2.0 % and the salt of ``GRZCTL_SHOULD_QC_SALT`` (none if unset).

:class:`GrzDb` is one GRZ's grz-db in one of two roles. On the in-process path
(:meth:`genomlab.genome_center.intake.GenomeCenter.submit` on inbox folders) genomlab writes it
the way grzctl does (``db submission add``, ``populate``, ``basic_qc_passed``, the state log
signed by the GRZ's author key), in ``<GRZ>/grzctl/grz-db.sqlite``: where the grzctl path keeps
it. On the grzctl path grzctl writes it and genomlab only reads grz-db's selection
(:meth:`GrzDb.from_grzctl_config`): nothing is decided twice.

The in-process path has no S3 upload, so grz-db's ``submission_uploaded_date`` (the date its
quarter and the Prüfbericht use) is the metadata's submission date. Every state genomlab writes
carries the inbox folder's name (``data.inbox_id``), so a rerun after a crash knows its own row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grz_db.models.submission import Submission, SubmissionDb
    from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata

DEFAULT_TARGET_PERCENTAGE = 2.0
"""grzctl's default ``db should-qc --target-percentage``."""

SALT_ENV = "GRZCTL_SHOULD_QC_SALT"
"""grzctl's environment variable for ``db should-qc --salt``."""

GRZDB_FOLDER = "grzctl"
"""The GRZ's grzctl folder under its own (grz-db, the author key; grzctl's configuration)."""


def get_grz_db_url(grz_directory: Path) -> str:
    """The URL of the grz-db of the GRZ whose folder is ``grz_directory``.

    Examples
    --------
    >>> get_grz_db_url(Path("/h/institutions/grz/GRZK00001"))
    'sqlite:////h/institutions/grz/GRZK00001/grzctl/grz-db.sqlite'
    """
    return f"sqlite:///{grz_directory / GRZDB_FOLDER / 'grz-db.sqlite'}"


class GrzDbRefusal(Exception):
    """grz-db refused a submission: grzctl's failure reason, the metadata field, grz-db's words."""

    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(f"{reason}: {field}: {message}")
        self.reason, self.field, self.message = reason, field, message


@dataclass
class GrzDb:
    """One GRZ's grz-db: written by genomlab (``author`` given) or by grzctl (``None``: read)."""

    database_url: str
    author_name: str | None = None
    author_key: Path | None = None
    author_passphrase: str | None = None
    target_percentage: float = DEFAULT_TARGET_PERCENTAGE
    salt: str | None = None

    def __post_init__(self) -> None:
        from grz_db.models.author import Author
        from grz_db.models.submission import SubmissionDb

        author = None
        if self.author_name is not None and self.author_key is not None:
            author = Author(self.author_name, self.author_key.read_bytes(),
                            self.author_passphrase)
        self.db: SubmissionDb = SubmissionDb(self.database_url, author)

    @property
    def writes(self) -> bool:
        """Whether genomlab writes this grz-db (the in-process path) or grzctl does."""
        return self.author_name is not None

    @classmethod
    def for_grz(cls, grz_directory: Path, *, environ: dict[str, str] | None = None) -> GrzDb:
        """The in-process path's grz-db of the GRZ whose folder is ``grz_directory``, made and
        brought to grz-db's latest schema (grz-db's own migrations) if need be."""
        from genomlab.genome_center.grzctl_pipeline import GRZCTL_AUTHOR, make_db_author

        folder = grz_directory / GRZDB_FOLDER
        author = make_db_author(folder / "keys")
        env = os.environ if environ is None else environ
        record = cls(get_grz_db_url(grz_directory), GRZCTL_AUTHOR, author.private_key,
                     author.passphrase, salt=env.get(SALT_ENV) or None)
        record.db.initialize_schema()
        return record

    @classmethod
    def from_grzctl_config(cls, config_file: Path) -> GrzDb:
        """grzctl's grz-db (its configuration's ``db.database_url``), read only."""
        config = json.loads(config_file.read_text(encoding="utf-8"))  # written as JSON
        return cls(str(config["db"]["database_url"]))

    # --- reading ----------------------------------------------------------------------

    def get(self, submission_id: str) -> Submission | None:
        """grz-db's row of ``submission_id`` (its states loaded)."""
        return self.db.get_submission(submission_id)

    def get_tan_holder(self, tan_g: str) -> str | None:
        """The id of the submission that holds ``tan_g`` in grz-db."""
        from grz_db.models.submission import Submission
        from sqlmodel import select

        with self.db.transaction() as session:
            return session.exec(select(Submission.id).where(Submission.tan_g == tan_g)).first()

    def is_selected(self, submission_id: str) -> bool:
        """grz-db's answer whether the submission goes to detailed QC.

        Writing: asked now (:meth:`SubmissionDb.should_qc`, which records the answer). Reading
        (grzctl path): the answer ``grzctl db should-qc`` recorded; a submission that is not an
        initial one is never selected (grz-db records no answer for it).
        """
        from grz_db.models.submission import SubmissionType

        if self.writes:
            return self.db.should_qc(submission_id, self.target_percentage, self.salt)
        row = self.get(submission_id)
        if row is None:
            raise LookupError(f"{self.database_url}: submission {submission_id}: not in grz-db")
        if row.submission_type == SubmissionType.initial and row.selected_for_qc is None:
            raise LookupError(f"{self.database_url}: submission {submission_id}: grz-db holds "
                              "no detailed-QC selection (grzctl db should-qc not run)")
        return row.selected_for_qc is True

    # --- writing (the in-process path) --------------------------------------------------

    def select_initials(self, submissions: Sequence[tuple[str, str, date]]) -> list[str]:
        """Register ``(submission id, submitter id, upload date)`` as initial submissions that
        passed basic QC, in this order, asking grz-db's selection after each; the ids selected
        (grzctl's ``db should-qc`` answers to a GRZ that takes them in this order)."""
        selected: list[str] = []
        for sid, submitter, day in submissions:
            self.db.add_submission(sid)
            with self.db.transaction() as session:
                for key, value in (("submission_type", "initial"), ("submitter_id", submitter),
                                   ("submission_uploaded_date", day),
                                   ("basic_qc_passed", "true")):
                    self.db.modify_submission(sid, key, value, session=session)
            if self.db.should_qc(sid, self.target_percentage, self.salt):
                selected.append(sid)
        return selected

    def register(self, inbox_id: str, metadata: GrzSubmissionMetadata) -> str:
        """Add and populate the submission (``db submission add`` + ``populate``, ``--force``
        as the pipeline's ``download``); returns its grz-db id.

        A submission id grz-db holds already is taken again only by the same inbox folder (a
        rerun) or after it failed (a corrected resubmission). Raises :class:`GrzDbRefusal`
        (``duplicate_tang``) for a reused tanG: recorded as grz-db ``Error`` if grz-db's row is
        this folder's, nothing written otherwise.
        """
        from grz_db.errors import DuplicateSubmissionError, DuplicateTanGError, GrzDbError
        from grz_db.models.submission import FailureReasonEnum, SubmissionStateEnum

        sid = metadata.submission_id
        try:
            self.db.add_submission(sid)
        except DuplicateSubmissionError as exc:
            latest = self._latest(sid)
            if latest is not None and latest.state != SubmissionStateEnum.ERROR \
                    and (latest.data or {}).get("inbox_id") != inbox_id:
                raise GrzDbRefusal("duplicate_tang", "submission.tanG",
                                   f"tanG already used by submission {sid} ({latest.state}; "
                                   f"grz-db: {exc})") from exc
        uploaded = metadata.submission.submission_date
        try:
            self.db.populate(sid, metadata, uploaded, force=True, on_missing="error")
        except DuplicateTanGError as exc:
            holder = self.get_tan_holder(metadata.submission.tan_g)
            message = f"tanG already used by submission {holder} (grz-db: {exc})"
            self._state(sid, inbox_id, SubmissionStateEnum.ERROR,
                        FailureReasonEnum.DUPLICATE_TANG, message)
            raise GrzDbRefusal("duplicate_tang", "submission.tanG", message) from exc
        except (GrzDbError, ValueError, RuntimeError) as exc:  # e.g. a redacted localCaseId
            self._state(sid, inbox_id, SubmissionStateEnum.ERROR,
                        FailureReasonEnum.VALIDATION_ERROR, str(exc))
            raise GrzDbRefusal("validation_error", "submission", f"grz-db: {exc}") from exc
        self._state(sid, inbox_id, SubmissionStateEnum.DOWNLOADED)
        return sid

    def pass_basic_qc(self, inbox_id: str, metadata: GrzSubmissionMetadata) -> None:
        """Record that basic QC passed (``grzctl validate``: the duplicate-initial check, then
        ``basic_qc_passed``); raises :class:`GrzDbRefusal` (``duplicate_initial``, recorded as
        grz-db ``Error`` with ``basic_qc_passed`` false) if the case has a QC-passed initial."""
        from grz_db.errors import DuplicateInitialSubmissionError
        from grz_db.models.submission import FailureReasonEnum, SubmissionStateEnum

        sid = metadata.submission_id
        sub = metadata.submission
        try:
            self.db.assert_no_duplicate_initial(
                sid, submitter_id=sub.submitter_id, local_case_id=sub.local_case_id,
                submission_type=sub.submission_type)
            self.db.modify_submission(sid, "basic_qc_passed", "true")
        except DuplicateInitialSubmissionError as exc:
            self.db.modify_submission(sid, "basic_qc_passed", "false")
            self._state(sid, inbox_id, SubmissionStateEnum.ERROR,
                        FailureReasonEnum.DUPLICATE_INITIAL, str(exc))
            raise GrzDbRefusal("duplicate_initial", "submission.localCaseId", str(exc)) from exc
        self._state(sid, inbox_id, SubmissionStateEnum.VALIDATED)

    def fail(self, submission_id: str, inbox_id: str, reason: str, message: str) -> None:
        """Record genomlab's refusal of a registered submission: grz-db ``Error`` with grzctl's
        failure reason, basic QC failed (the case's initial slot and the QC queue freed)."""
        from grz_db.models.submission import FailureReasonEnum, SubmissionStateEnum

        row = self.get(submission_id)
        if row is None:
            return
        if row.basic_qc_passed is not False:
            self.db.modify_submission(submission_id, "basic_qc_passed", "false")
        try:
            failure = FailureReasonEnum(reason)
        except ValueError:
            failure = FailureReasonEnum.UNKNOWN
        self._state(submission_id, inbox_id, SubmissionStateEnum.ERROR, failure, message)

    def record(self, submission_id: str, inbox_id: str, state: str) -> None:
        """Record a later state (``Reported``, ``Finished``) of a submission genomlab took."""
        from grz_db.models.submission import SubmissionStateEnum

        self._state(submission_id, inbox_id, SubmissionStateEnum(state))

    def _latest(self, submission_id: str) -> Any:
        row = self.get(submission_id)
        return None if row is None else row.get_latest_state()

    def _state(self, submission_id: str, inbox_id: str, state: Any, failure: Any = None,
               message: str | None = None) -> None:
        data: dict[str, Any] = {"inbox_id": inbox_id}
        if message is not None:
            data["error"] = message
        self.db.update_submission_state(submission_id, state, data=data,
                                        grzctl_versions=_versions(), failure_reason=failure)


def _versions() -> dict[str, str]:
    """The versions that wrote a state (grzctl records its own; here genomlab's grz-db)."""
    from importlib.metadata import version

    return {"grz-db": version("grz-db"), "writer": "genomlab"}

