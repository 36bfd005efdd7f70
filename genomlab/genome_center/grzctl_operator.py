"""What a GRZ's service answers its operator about the grzctl pipeline, as JSON both ways.

The GRZ's operator sets grzctl up in the GRZ's folder
(:meth:`~genomlab.genome_center.grzctl_pipeline.GrzctlPipeline.set_up`); the GRZ's service
(``genomlab serve grz``) then runs the pipeline when the operator asks (``POST
/api/intake/run``, :func:`genomlab.intake.official.run_grzctl_for_operator`) and answers with
each submission's outcome (:func:`outcome_to_json`); ``GET /api/intake/records`` answers the
records of every submission it holds (:func:`get_submission_records`): grz-db's latest state,
the reason of its last error and genomlab's state and Meldebestätigung. The caller rebuilds
both (:func:`outcome_from_json`, :func:`record_from_json`) without opening the GRZ's stores.

Examples
--------
>>> from genomlab.genome_center.grzctl_pipeline import SubmissionOutcome
>>> outcome = SubmissionOutcome("260914050_2024-10-01_a1b2c3d4", grzdb_state="Finished")
>>> outcome_from_json(outcome_to_json(outcome)) == outcome
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from genomlab.genome_center.detailed_qc import LabDatumQc, MetricCheck, SubmissionQc
from genomlab.genome_center.grzctl_pipeline import SubmissionOutcome

if TYPE_CHECKING:
    from genomlab.config import GenomlabConfig
    from genomlab.genome_center.grzctl_pipeline import GrzctlPipeline

FAILED_STATES = ("Error", "Reported")
"""grz-db states whose last ``Error`` entry says whether the submission is refused for good."""


@dataclass(frozen=True)
class SubmissionRecord:
    """One submission as the GRZ holds it: grz-db's latest state, the failure reason and data
    of its last ``Error`` (for a submission in :data:`FAILED_STATES`), genomlab's state and the
    Meldebestätigung's id (``None`` where the GRZ has none)."""

    submission_id: str
    grzdb_state: str | None = None
    failure_reason: str | None = None
    failure_data: Any = None
    genomlab_state: str | None = None
    confirmation_id: str | None = None


def get_submission_records(config: GenomlabConfig, pipeline: GrzctlPipeline, *,
                           failures: bool = True) -> dict[str, SubmissionRecord]:
    """Every submission grz-db or genomlab's GRZ store holds, by submission id (one ``grzctl db
    list``, genomlab's submission rows and, with ``failures``, one ``db submission show`` per
    failed submission for the reason of its last error)."""
    from genomlab.genome_center.intake import GenomeCenter

    states = pipeline.get_states()
    center = GenomeCenter(config, pipeline.grz_id)
    rows = {str(r["inbox_id"]): r for r in center.get_submissions()}
    records = {}
    for sid in sorted({*states, *rows}):
        reason, data = None, None
        if failures and states.get(sid) in FAILED_STATES:
            shown = pipeline.get_submission(sid) or {}
            errors = [st for st in shown.get("states", []) if st.get("state") == "Error"]
            if errors:
                reason, data = errors[-1].get("failure_reason"), errors[-1].get("data")
        row = rows.get(sid)
        records[sid] = SubmissionRecord(
            sid, states.get(sid), None if reason is None else str(reason), data,
            None if row is None else row["state"],
            None if row is None else row["confirmation_id"])
    return records


def record_to_json(record: SubmissionRecord) -> dict[str, Any]:
    """``record`` as a JSON object (its fields)."""
    return asdict(record)


def record_from_json(data: dict[str, Any]) -> SubmissionRecord:
    """The record :func:`record_to_json` wrote; ValueError naming a missing field."""
    try:
        return SubmissionRecord(
            str(data["submission_id"]), data["grzdb_state"], data["failure_reason"],
            data["failure_data"], data["genomlab_state"], data["confirmation_id"])
    except KeyError as exc:
        raise ValueError(f"submission record: field {exc} missing") from exc


def outcome_to_json(outcome: SubmissionOutcome) -> dict[str, Any]:
    """``outcome`` as a JSON object, detailed QC included (its lab data and metrics)."""
    return asdict(outcome)


def outcome_from_json(data: dict[str, Any]) -> SubmissionOutcome:
    """The outcome :func:`outcome_to_json` wrote; ValueError naming a missing field."""
    try:
        qc = data["detailed_qc"]
        return SubmissionOutcome(
            str(data["submission_id"]), steps={k: float(v) for k, v in data["steps"].items()},
            grzdb_state=data["grzdb_state"], refused=data["refused"],
            refused_at=data["refused_at"], should_qc=data["should_qc"],
            detailed_qc=None if qc is None else SubmissionQc(str(qc["submission_id"]), [
                LabDatumQc(**{**lab, "metrics": {name: MetricCheck(**check)
                                                 for name, check in lab["metrics"].items()}})
                for lab in qc["lab_data"]]),
            genomlab_state=data["genomlab_state"], confirmation_id=data["confirmation_id"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"submission outcome: field {exc} missing or malformed") from exc
