"""The data service's declared events: feasibility index and answers, releases and withdrawal
notices (one declared type, one payload model; see :mod:`genomlab.events`)."""

from __future__ import annotations

from typing import Any

from genomlab.events import EventPayload, declare


class IndexBuilt(EventPayload):
    build_id: str
    nodes: list[str]
    n_genome_datasets: int
    n_clinical_datasets: int
    n_sites: int
    digest: str


class FeasibilityAnswered(EventPayload):
    """``total`` is the true count, kept so later queries can be audited against it."""

    query_id: str
    user: str
    side: str
    filters: dict[str, list[Any]]
    variant: str | None
    granularity: str
    total: int
    suppressed: bool


class ReleaseStarted(EventPayload):
    release_id: str
    application_id: str
    project_id: str


class ReleaseLinked(EventPayload):
    """The verified linkage map a release used."""

    release_id: str
    map_id: str
    map_digest: str
    n_genome_candidates: int
    n_clinical_candidates: int
    n_linked: int
    n_excluded_no_consent: int
    n_cohort: int


class ReleaseRefused(EventPayload):
    application_id: str
    reason: str


class ReleaseCompleted(EventPayload):
    release_id: str
    application_id: str
    project_id: str
    level: str
    n_persons: int
    persons: list[str]
    manifest_sha256: str
    content_digest: str


class WithdrawalNotified(EventPayload):
    project_id: str
    release_id: str
    project_pseudonyms: list[str]
    notice: str


class FindingRouted(EventPayload):
    """``finding.forwarded`` (to the trust centre's request) and ``finding.delivered`` (to the
    treating LE, ``le_ik``) of a BfArM finding (re-identification for patient benefit)."""

    finding_id: str
    request_id: str
    le_ik: str | None = None


DATA_SERVICE_EVENTS = declare("data_service", {
    "feasibility.index_built": IndexBuilt,
    "feasibility.answered": FeasibilityAnswered,
    "release.started": ReleaseStarted,
    "release.linked": ReleaseLinked,
    "release.refused": ReleaseRefused,
    "release.completed": ReleaseCompleted,
    "release.withdrawal_notified": WithdrawalNotified,
    "finding.forwarded": FindingRouted,
    "finding.delivered": FindingRouted,
})
"""Every event type the data service's ledger accepts."""
