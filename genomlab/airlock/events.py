"""The airlock's declared events: release requests, reviews and releases (one declared type, one
payload model; see :mod:`genomlab.events`)."""

from __future__ import annotations

from typing import Any, Literal

from genomlab.events import EventPayload, declare

Decision = Literal["approve", "reject", "changes"]
"""An output checker's decision on a file (``changes``: the author is asked to change it, with
the reason as the comment), and the summary of a checker's decisions on a whole request."""


class CheckedFile(EventPayload):
    """A file of a request as snapshotted and checked."""

    name: str
    sha256: str
    size: int
    kind: str
    status: str
    results: list[dict[str, Any]]


class RequestSubmitted(EventPayload):
    request_id: str
    project: str
    files: list[CheckedFile]
    differencing: dict[str, Any]
    check_status: str
    criteria: dict[str, Any]
    justification: str


class ReviewRecorded(EventPayload):
    """A checker's review of a whole request: recorded once they have decided every file (the
    decision is ``reject`` if any file was rejected, else ``changes`` if any needs changes)."""

    request_id: str
    decision: Decision
    reason: str


class FileReviewed(EventPayload):
    """One output checker's decision on one file of a request (``airlock.file.reviewed``)."""

    request_id: str
    name: str
    decision: Decision
    reason: str


class RequestDecided(EventPayload):
    """``airlock.request.approved``, ``.rejected``, ``.changes_requested``: after every file has
    its two decisions."""

    request_id: str


class RequestWithdrawn(EventPayload):
    request_id: str
    reason: str


class ReleasedFile(EventPayload):
    name: str
    sha256: str
    released_path: str


class RequestReleased(EventPayload):
    request_id: str
    files: list[ReleasedFile]
    register_entry: str | None


AIRLOCK_EVENTS = declare("airlock", {
    "airlock.request.submitted": RequestSubmitted,
    "airlock.review.recorded": ReviewRecorded,
    "airlock.file.reviewed": FileReviewed,
    "airlock.request.changes_requested": RequestDecided,
    "airlock.request.approved": RequestDecided,
    "airlock.request.rejected": RequestDecided,
    "airlock.request.withdrawn": RequestWithdrawn,
    "airlock.request.released": RequestReleased,
})
"""Every event type the airlock's ledger accepts."""
