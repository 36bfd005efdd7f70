"""Ledger health for operators: every institution's ledger, verified, with its activity over time.

Reads the stores directly (no Spark), so the Voila page opens in about a second.
"""

from __future__ import annotations

import html
from typing import Any

import polars as pl
from sqlalchemy import func, select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.dashboards.plots import figure_html, get_series_colours
from genomlab.db import read_connection
from genomlab.institution import existing_institutions
from genomlab.ledger import events_table

HEALTH_SCHEMA = {
    "institution": pl.String,
    "events": pl.Int64,
    "checkpoints": pl.Int64,
    "status": pl.String,
    "first_bad_seq": pl.Int64,
    "last_event_at": pl.String,
}


def compute_ledger_health(config: GenomlabConfig) -> pl.DataFrame:
    """One row per institution under the home: event count, verification status, last event."""
    rows = []
    for inst in existing_institutions(config):
        ledger = inst.ledger()
        report = ledger.verify()
        with read_connection(ledger.engine) as conn:
            last = conn.execute(select(func.max(events_table.c.recorded_at))).scalar()
        rows.append({
            "institution": inst.name,
            "events": report.n_events,
            "checkpoints": report.n_checkpoints,
            "status": "ok" if report.ok else "BROKEN",
            "first_bad_seq": report.first_bad_seq,
            "last_event_at": last,
        })
    return pl.DataFrame(rows, schema=HEALTH_SCHEMA)


def compute_daily_activity(config: GenomlabConfig) -> pl.DataFrame:
    """Events per institution and day: columns ``institution``, ``day``, ``events``."""
    frames = []
    for inst in existing_institutions(config):
        ledger = inst.ledger()
        with read_connection(ledger.engine) as conn:
            day = func.substr(events_table.c.recorded_at, 1, 10)
            rows = conn.execute(select(day, func.count()).group_by(day)).all()
        frames += [{"institution": inst.name, "day": d, "events": n} for d, n in rows]
    return pl.DataFrame(frames, schema={"institution": pl.String, "day": pl.String,
                                        "events": pl.Int64})


def health_table_html(health: pl.DataFrame) -> str:
    """The health table as escaped HTML (names come from folders, so escape them)."""
    header = "".join(f"<th>{html.escape(c)}</th>" for c in health.columns)
    body = []
    for row in health.iter_rows(named=True):
        css = "ok" if row["status"] == "ok" else "broken"
        cells = "".join(f"<td>{html.escape('' if v is None else str(v))}</td>"
                        for v in row.values())
        body.append(f'<tr class="ledger-{css}" data-institution="{html.escape(row["institution"])}"'
                    f">{cells}</tr>")
    return (f'<table class="genomlab-ledger-health"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def plot_ledger_activity(activity: pl.DataFrame):
    """Events per day and institution as a line plot."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    groups = list(activity.sort("day").group_by("institution", maintain_order=True))
    for (name, part), colour in zip(groups, get_series_colours(len(groups)), strict=True):
        ax.plot(part["day"].to_list(), part["events"].to_list(), marker="o", label=str(name[0]),
                color=colour)
    ax.set_ylabel("events per day")
    ax.set_title("Ledger activity")
    if activity.height:
        ax.legend(fontsize=7, ncols=2)
    fig.tight_layout()
    return fig


def ledger_health_html(health: pl.DataFrame) -> str:
    """A summary line and the table of :func:`compute_ledger_health`."""
    broken = health.filter(pl.col("status") != "ok").height
    return (f"<h2>Verification</h2><p class='genomlab-summary'>{health.height} institutions, "
            f"{int(health['events'].sum() or 0)} events, "
            f"{'all verified' if broken == 0 else f'{broken} BROKEN'} "
            f"(checked {clock.now().isoformat(timespec='seconds')})</p>"
            + health_table_html(health))


def ledger_health_view(config: GenomlabConfig) -> Any:
    """The page as ipywidgets: every ledger verified, its activity per day, and a refresh
    button that verifies again."""
    import ipywidgets as widgets

    content = widgets.HTML()
    refresh = widgets.Button(description="↻ refresh", tooltip="Verify every ledger again")
    refresh.add_class("genomlab-refresh")

    def show(*_: Any) -> None:
        content.value = (ledger_health_html(compute_ledger_health(config))
                         + "<h2>Activity</h2>"
                         + figure_html(plot_ledger_activity(compute_daily_activity(config)),
                                       "Line plot: events per day and institution"))

    refresh.on_click(show)
    show()
    return widgets.VBox([refresh, content])
