"""The report runner's declared events: one run started and finished per idempotency key (one
declared type, one payload model; see :mod:`genomlab.events`)."""

from __future__ import annotations

from typing import Any

from genomlab.events import EventPayload, declare


class RunStarted(EventPayload):
    key: str
    name: str
    slot: str
    audience: str
    notebook: str
    parameters: dict[str, Any]


class RunFinished(EventPayload):
    key: str
    status: str
    duration_s: float
    output_dir: str
    outputs: dict[str, str]
    reasons: list[str]
    criteria: dict[str, Any] | None


REPORTS_EVENTS = declare("reports", {
    "report.run.started": RunStarted,
    "report.run.finished": RunFinished,
})
"""Every event type the reports ledger accepts."""
