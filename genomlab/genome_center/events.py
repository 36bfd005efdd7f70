"""A genome data centre's (GRZ's) declared events: submission intake, donors and genotype
batches (one declared type, one payload model; see :mod:`genomlab.events`). The tanG appears only
as a sha256; no clinical pseudonym and no identity field is declared.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from genomlab.events import EventPayload, declare


class SubmissionRef(EventPayload):
    """``submission.received``, ``.stored``, ``.finished``: the inbox folder name only."""

    inbox_id: str


class ValidatedSubmission(EventPayload):
    """The ``grz_submissions`` columns a validated submission fills.

    The submission date only to the month (``submission_month``, ``YYYY-MM``: what BfArM's
    sampling rule and the quarterly report need); the exact date goes to the platform in the
    Prüfbericht and is kept nowhere at the GRZ. ``submission_date`` (the day) is only in events
    of homes made before revision 0005; the projection keeps its month.
    """

    submitter_id: str
    submission_month: str | None = None
    submission_date: str | None = None
    submission_type: str
    disease_type: str
    coverage_type: str
    library_type: str
    submission_id: str
    tan_hash: str
    genomic_study_type: str
    genomic_study_subtype: str
    n_donors: int
    research_consented: bool
    submission_size: int
    warnings: str

    @model_validator(mode="after")
    def _has_a_month(self) -> ValidatedSubmission:
        if (self.submission_month is None) == (self.submission_date is None):
            raise ValueError("needs submission_month (or, in older events, submission_date)")
        return self


class SubmissionValidated(EventPayload):
    inbox_id: str
    fields: ValidatedSubmission


class SubmissionError(EventPayload):
    inbox_id: str
    failure_reason: str
    field: str
    message: str
    fields: dict[str, Any] = Field(default_factory=dict)


class PseudonymisedDonor(EventPayload):
    donor_index: int
    relation: str
    genome_pseudonym: str
    research_consented: bool
    mv_consented: bool
    library_types: str
    store: str


class SubmissionPseudonymised(EventPayload):
    inbox_id: str
    donors: list[PseudonymisedDonor]


class DonorResearchWithdrawn(EventPayload):
    inbox_id: str
    genome_pseudonym: str


class GenotypeBatchStored(EventPayload):
    batch_id: str
    store: str
    path: str
    n_samples: int
    samples: list[tuple[str, str]]
    """(inbox id, genome pseudonym) of each sample in the batch."""


class GenotypeBatchCompacted(EventPayload):
    """``genotypes.batch_compacted``: batch ``old_batch_id`` rewritten without the persons
    ``removed`` names (sha256 of their pseudonyms) as ``batch_id``; ``None`` if none was left."""

    old_batch_id: str
    batch_id: str | None
    store: str
    path: str | None
    n_samples: int
    removed: list[str]
    reason: str


class DonorsErased(EventPayload):
    """``donors.erased``: the donor rows of these persons (sha256 of their pseudonyms) are
    deleted (withdrawal, deletion request, end of retention)."""

    digests: list[str]
    reason: str
    stores: list[str]


class SubmissionReported(EventPayload):
    """``submission.reported``, ``submission.failure_reported``: the Meldebestätigung id."""

    inbox_id: str
    confirmation_id: str


class SubmissionQcSampled(EventPayload):
    inbox_id: str
    selected: bool


GENOME_CENTER_EVENTS = declare("grz", {
    "submission.received": SubmissionRef,
    "submission.validated": SubmissionValidated,
    "submission.error": SubmissionError,
    "submission.pseudonymised": SubmissionPseudonymised,
    "donor.research_withdrawn": DonorResearchWithdrawn,
    "genotypes.batch_stored": GenotypeBatchStored,
    "genotypes.batch_compacted": GenotypeBatchCompacted,
    "donors.erased": DonorsErased,
    "submission.stored": SubmissionRef,
    "submission.reported": SubmissionReported,
    "submission.failure_reported": SubmissionReported,
    "submission.qc_sampled": SubmissionQcSampled,
    "submission.finished": SubmissionRef,
})
"""Every event type a GRZ's ledger accepts."""
