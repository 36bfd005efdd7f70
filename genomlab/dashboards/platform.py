"""Platform dashboard: nodes, Prüfberichte (submissions), QC pass rates, Meldebestätigungen and
refusals per node over time.

Reads the platform's projection tables only (no Spark, no node store); all text is escaped.
Behind the hub (this account cannot open the platform's store) the same frames come from the
platform service's ``GET /api/monitoring`` with the person's token (platform staff only:
:data:`~genomlab.platform.applications.queries.MONITORING_ROLES`).
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
from genomlab.platform.node_seed import get_seed_source
from genomlab.platform.quarterly import compute_monitoring_frames


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0%}"
    return html.escape("" if value is None else str(value))


def table_html(frame: pl.DataFrame, css_class: str, key: str = "node_id") -> str:
    """A frame as an escaped HTML table; each row carries ``data-node`` for tests and styling."""
    header = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        f'<tr data-node="{html.escape(str(row[key]))}">'
        + "".join(f"<td>{_cell(v)}</td>" for v in row.values()) + "</tr>"
        for row in frame.iter_rows(named=True))
    return (f'<table class="{html.escape(css_class)}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def summary_html(overview: pl.DataFrame) -> str:
    """One line: nodes approved, Prüfberichte confirmed, QC pass rate, refusals."""
    confirmed = int(overview["confirmations"].sum() or 0)
    passed = int(overview["qc_passed"].sum() or 0)
    approved = overview.filter(pl.col("status") == "approved").height
    rate = f"{passed / confirmed:.0%}" if confirmed else "n/a"
    return (f"<p class='genomlab-platform-summary'>{overview.height} nodes ({approved} approved), "
            f"{confirmed} Meldebestätigungen issued, QC passed {rate}, "
            f"{int(overview['refused'].sum() or 0)} Prüfberichte refused</p>")


def get_monitoring_frames(config: GenomlabConfig,
                          credentials: str | Path | None = None) -> dict[str, pl.DataFrame]:
    """The frames of :func:`~genomlab.platform.quarterly.compute_monitoring_frames`: computed
    here if this account may open the platform's store, else asked of the platform service
    with the person's token (the approvals dashboard's switch)."""
    from genomlab.platform.person_session import (
        ServiceSession,
        open_person_session,
        platform_store_readable,
    )

    if platform_store_readable(config):
        return compute_monitoring_frames(config)
    session = open_person_session(config, None if credentials is None else Path(credentials))
    if not isinstance(session, ServiceSession):
        raise PermissionDenied("platform dashboard: no platform service to ask, and this "
                               "account cannot read the platform's store")
    frames: dict[str, pl.DataFrame] = session.client.get_monitoring()
    return frames


def listed_nodes_html(registered: pl.DataFrame) -> str:
    """The registered nodes BfArM's project page lists, with the public id where one exists
    ("not published" otherwise), and the page and date the list comes from."""
    listed = registered.filter(pl.col("listed_by_bfarm")).with_columns(
        pl.col("public_id").fill_null("not published")).drop("listed_by_bfarm")
    source = get_seed_source()
    return (f"<p class='genomlab-platform-source'>{listed.height} nodes as listed on "
            f"<a href='{html.escape(source['url'])}'>BfArM's project page</a> "
            f"({html.escape(str(source['as_of']))})</p>"
            + table_html(listed, "genomlab-platform-listed"))


def plot_node_activity(activity: pl.DataFrame):
    """Prüfberichte per node and month (lines) as a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    groups = list(activity.sort("period").group_by("node_id", maintain_order=True))
    for ((node,), part), colour in zip(groups, get_series_colours(len(groups)), strict=True):
        ax.plot(part["period"].to_list(), part["confirmations"].to_list(), marker="o",
                label=str(node), color=colour)
    ax.set_ylabel("Prüfberichte confirmed")
    ax.set_title("Submissions per node and month")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    if activity.height:
        ax.legend(fontsize=7, ncols=3)
    fig.tight_layout()
    return fig


def platform_view(config: GenomlabConfig, credentials: str | Path | None = None) -> Any:
    """The dashboard as ipywidgets: summary, node table, per-quarter activity table, the
    activity plot, and a refresh button that reads everything again (from the store, or
    behind the hub from the platform service: :func:`get_monitoring_frames`)."""
    import ipywidgets as widgets

    content = widgets.HTML()
    content.add_class("genomlab-platform")
    refresh = widgets.Button(description="↻ refresh", tooltip="Read the platform's tables again")
    refresh.add_class("genomlab-refresh")

    def show(*_: Any) -> None:
        frames = get_monitoring_frames(config, credentials)
        overview, quarterly, monthly = (frames["overview"], frames["quarterly"],
                                        frames["monthly"])
        content.value = (
            "<h2>Data nodes</h2>" + summary_html(overview)
            + f"<p class='genomlab-as-of'>as of {clock.now():%Y-%m-%d %H:%M:%S} UTC</p>"
            + table_html(overview, "genomlab-platform-nodes")
            + "<h2>Nodes BfArM lists</h2>" + listed_nodes_html(frames["registered"])
            + "<h2>Per node and quarter</h2>"
            + table_html(quarterly, "genomlab-platform-activity")
            + "<h2>Submissions per node and month</h2>"
            + figure_html(plot_node_activity(monthly),
                          "Line plot: Prüfberichte confirmed per node and month; the numbers "
                          "are in the table above"))

    refresh.on_click(show)
    show()
    return widgets.VBox([refresh, content])
