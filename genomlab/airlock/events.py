"""The airlock's declared events: release requests, reviews and releases (one declared type, one
payload model; see :mod:`genomlab.events`)."""

from __future__ import annotations

from typing import Any, Literal

from genomlab.events import EventPayload, declare

Decision = Literal["approve", "reject"]
"""An output checker's decision."""


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
    request_id: str
    decision: Decision
    reason: str


class RequestDecided(EventPayload):
    """``airlock.request.approved``, ``airlock.request.rejected``: after the last review."""

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
    "airlock.request.approved": RequestDecided,
    "airlock.request.rejected": RequestDecided,
    "airlock.request.withdrawn": RequestWithdrawn,
    "airlock.request.released": RequestReleased,
})
"""Every event type the airlock's ledger accepts."""
