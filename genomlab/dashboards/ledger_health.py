"""Ledger health for operators: every institution's ledger, verified, with its activity over time.

Reads the stores directly (no Spark), so the Voila page opens in about a second; behind the hub
(the account cannot read the stores) each running service answers for its own ledger.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.dashboards.plots import figure_html, get_series_colours
from genomlab.errors import PermissionDenied
from genomlab.institution import existing_institutions
from genomlab.ledger_health import (
    ACTIVITY_SCHEMA,
    HEALTH_SCHEMA,
    UNREACHABLE,
    get_daily_activity_rows,
    get_ledger_health_row,
)


def compute_ledger_health(config: GenomlabConfig) -> pl.DataFrame:
    """One row per institution under the home: event count, verification status, last event."""
    return pl.DataFrame([get_ledger_health_row(inst) for inst in existing_institutions(config)],
                        schema=HEALTH_SCHEMA)


def compute_daily_activity(config: GenomlabConfig) -> pl.DataFrame:
    """Events per institution and day: columns ``institution``, ``day``, ``events``."""
    return pl.DataFrame([row for inst in existing_institutions(config)
                         for row in get_daily_activity_rows(inst)], schema=ACTIVITY_SCHEMA)


def get_ledger_frames(config: GenomlabConfig, credentials: str | Path | None = None,
                      ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The health and activity frames: computed here if this account may open the platform's
    store (one account holds the home), else asked of every running service for its own ledger
    with the person's token (:func:`genomlab.clients.ledger_health.get_service_ledger_health`;
    a service that does not answer is a row ``unreachable``)."""
    from genomlab.platform.person_session import platform_store_readable

    if platform_store_readable(config):
        return compute_ledger_health(config), compute_daily_activity(config)
    from genomlab.clients.ledger_health import get_service_ledger_health
    from genomlab.platform.person_session import ServiceSession, open_person_session

    session = open_person_session(config, None if credentials is None else Path(credentials))
    if not isinstance(session, ServiceSession):
        raise PermissionDenied("ledger health: no platform service to ask, and this account "
                               "cannot read the institutions' ledgers")
    return get_service_ledger_health(config, session.client.tokens)


def health_table_html(health: pl.DataFrame) -> str:
    """The health table as escaped HTML (names come from folders, so escape them)."""
    header = "".join(f"<th>{html.escape(c)}</th>" for c in health.columns)
    body = []
    for row in health.iter_rows(named=True):
        css = {"ok": "ok", UNREACHABLE: UNREACHABLE}.get(row["status"], "broken")
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
    broken = health.filter(pl.col("status") == "BROKEN").height
    unreachable = health.filter(pl.col("status") == UNREACHABLE).height
    verdict = "all verified" if broken == 0 else f"{broken} BROKEN"
    if unreachable:
        verdict += f", {unreachable} {UNREACHABLE}"
    return (f"<h2>Verification</h2><p class='genomlab-summary'>{health.height} institutions, "
            f"{int(health['events'].sum() or 0)} events, {verdict} "
            f"(checked {clock.now().isoformat(timespec='seconds')})</p>"
            + health_table_html(health))


def ledger_health_view(config: GenomlabConfig, credentials: str | Path | None = None) -> Any:
    """The page as ipywidgets: every ledger verified, its activity per day, and a refresh
    button that verifies again (through the services behind the hub: :func:`get_ledger_frames`)."""
    import ipywidgets as widgets

    content = widgets.HTML()
    refresh = widgets.Button(description="↻ refresh", tooltip="Verify every ledger again")
    refresh.add_class("genomlab-refresh")

    def show(*_: Any) -> None:
        health, activity = get_ledger_frames(config, credentials)
        content.value = (ledger_health_html(health)
                         + "<h2>Activity</h2>"
                         + figure_html(plot_ledger_activity(activity),
                                       "Line plot: events per day and institution"))

    refresh.on_click(show)
    show()
    return widgets.VBox([refresh, content])
