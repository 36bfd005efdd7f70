"""One institution's ledger health: what the ledger-health dashboard shows per institution.

:func:`get_ledger_health_row` (events, checkpoints, verification, last event) and
:func:`get_daily_activity_rows` (events per day) read one ledger; the dashboard calls them for
every institution under the home when its account can read them, and each service answers
them for its own ledger (``GET /api/ledger-health``, :mod:`genomlab.services.ledger_health_api`)
when it cannot (behind the hub every ledger belongs to its institution's account).
:func:`frame_to_json` / :func:`frame_from_json` carry a polars frame over HTTP with its schema.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import func, select

from genomlab.db import read_connection
from genomlab.institution import Institution
from genomlab.ledger import events_table

HEALTH_SCHEMA = {
    "institution": pl.String,
    "events": pl.Int64,
    "checkpoints": pl.Int64,
    "status": pl.String,
    "first_bad_seq": pl.Int64,
    "last_event_at": pl.String,
}
ACTIVITY_SCHEMA = {"institution": pl.String, "day": pl.String, "events": pl.Int64}
UNREACHABLE = "unreachable"
"""The status of a service that did not answer (the dashboard shows a row, no exception)."""

DTYPES: dict[str, Any] = {"String": pl.String, "Int64": pl.Int64, "Float64": pl.Float64,
                          "Boolean": pl.Boolean, "Date": pl.Date, "Int32": pl.Int32}


def get_ledger_health_row(institution: Institution) -> dict[str, Any]:
    """``institution``'s ledger verified: one row of :data:`HEALTH_SCHEMA`."""
    ledger = institution.ledger()
    report = ledger.verify()
    with read_connection(ledger.engine) as conn:
        last = conn.execute(select(func.max(events_table.c.recorded_at))).scalar()
    return {
        "institution": institution.name,
        "events": report.n_events,
        "checkpoints": report.n_checkpoints,
        "status": "ok" if report.ok else "BROKEN",
        "first_bad_seq": report.first_bad_seq,
        "last_event_at": last,
    }


def get_daily_activity_rows(institution: Institution) -> list[dict[str, Any]]:
    """Events of ``institution``'s ledger per day (rows of :data:`ACTIVITY_SCHEMA`)."""
    ledger = institution.ledger()
    with read_connection(ledger.engine) as conn:
        day = func.substr(events_table.c.recorded_at, 1, 10)
        rows = conn.execute(select(day, func.count()).group_by(day)).all()
    return [{"institution": institution.name, "day": d, "events": n} for d, n in rows]


def get_unreachable_row(name: str) -> dict[str, Any]:
    """The health row of a service that did not answer."""
    return {**dict.fromkeys(HEALTH_SCHEMA), "institution": name, "status": UNREACHABLE}


def frame_to_json(frame: pl.DataFrame) -> dict[str, Any]:
    """``{"schema": {column: dtype}, "rows": [record, …]}``; :func:`frame_from_json` rebuilds it.

    >>> frame = pl.DataFrame({"node_id": ["GRZ1"], "rate": [0.5]})
    >>> frame_from_json(frame_to_json(frame)).equals(frame)
    True
    """
    return {"schema": {name: str(dtype) for name, dtype in frame.schema.items()},
            "rows": frame.to_dicts()}


def frame_from_json(body: dict[str, Any]) -> pl.DataFrame:
    """The frame :func:`frame_to_json` serialised (its columns and dtypes, also when empty)."""
    schema = {name: DTYPES[dtype] for name, dtype in body["schema"].items()}
    return pl.DataFrame(body["rows"], schema=schema)
