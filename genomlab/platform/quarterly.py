"""What the platform sees of each node's activity: Prüfberichte, QC results, refusals, over time.

The platform knows only what nodes report (Prüfberichte) and what it refused; it never reads a
node's store. Periods are months (``2025-07``) or quarters (``2025-Q3``) of the submission date
(refusals: of the refusal).

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> compute_node_activity(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})).height
0
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.platform.nodes import (
    confirmations_table,
    nodes_table,
    open_registry_ledger,
    refusals_table,
)

Period = Literal["month", "quarter"]
ACTIVITY_SCHEMA = pl.Schema({"node_id": pl.String, "period": pl.String, "confirmations": pl.Int64,
                             "qc_passed": pl.Int64, "qc_pass_rate": pl.Float64,
                             "refused": pl.Int64, "genomic": pl.Int64, "clinical": pl.Int64})


def _period(column: str, period: Period) -> pl.Expr:
    day = pl.col(column).str.slice(0, 10)
    if period == "month":
        return day.str.slice(0, 7)
    quarter = ((day.str.slice(5, 2).cast(pl.Int32) - 1) // 3 + 1).cast(pl.String)
    return day.str.slice(0, 4) + "-Q" + quarter


def compute_node_activity(config: GenomlabConfig, *, period: Period = "month") -> pl.DataFrame:
    """Per node and period: confirmations, QC passed (count and rate), refusals, categories."""
    ledger = open_registry_ledger(config)
    with read_connection(ledger.engine) as conn:
        confirmed = pl.DataFrame(
            [dict(r._mapping) for r in conn.execute(select(
                confirmations_table.c.node_id, confirmations_table.c.submission_date,
                confirmations_table.c.qc_passed, confirmations_table.c.data_category))],
            schema={"node_id": pl.String, "submission_date": pl.String,
                    "qc_passed": pl.Boolean, "data_category": pl.String})
        refused = pl.DataFrame(
            [dict(r._mapping) for r in conn.execute(select(refusals_table.c.node_id,
                                                           refusals_table.c.refused_at))],
            schema={"node_id": pl.String, "refused_at": pl.String})
    counts = (confirmed.with_columns(_period("submission_date", period).alias("period"))
              .group_by("node_id", "period")
              .agg(pl.len().cast(pl.Int64).alias("confirmations"),
                   pl.col("qc_passed").sum().cast(pl.Int64).alias("qc_passed"),
                   (pl.col("data_category") == "genomic").sum().cast(pl.Int64).alias("genomic"),
                   (pl.col("data_category") == "clinical").sum().cast(pl.Int64)
                   .alias("clinical")))
    refusals = (refused.with_columns(_period("refused_at", period).alias("period"))
                .group_by("node_id", "period").agg(pl.len().cast(pl.Int64).alias("refused")))
    joined = counts.join(refusals, on=["node_id", "period"], how="full", coalesce=True)
    return (joined.with_columns(
        pl.col("confirmations", "qc_passed", "genomic", "clinical", "refused").fill_null(0))
        .with_columns(pl.when(pl.col("confirmations") > 0)
                      .then(pl.col("qc_passed") / pl.col("confirmations"))
                      .otherwise(None).alias("qc_pass_rate"))
        .select(list(ACTIVITY_SCHEMA)).cast(ACTIVITY_SCHEMA)
        .sort("node_id", "period"))


def compute_node_overview(config: GenomlabConfig) -> pl.DataFrame:
    """One row per registered node: status and its totals over all periods."""
    ledger = open_registry_ledger(config)
    with read_connection(ledger.engine) as conn:
        nodes = pl.DataFrame([dict(r._mapping) for r in conn.execute(select(
            nodes_table.c.node_id, nodes_table.c.kind, nodes_table.c.name,
            nodes_table.c.status))], schema={"node_id": pl.String, "kind": pl.String,
                                              "name": pl.String, "status": pl.String})
    totals = (compute_node_activity(config).group_by("node_id")
              .agg(pl.col("confirmations", "qc_passed", "refused").sum()))
    return (nodes.join(totals, on="node_id", how="left")
            .with_columns(pl.col("confirmations", "qc_passed", "refused").fill_null(0))
            .sort("node_id"))


MONITORING_FRAMES = ("overview", "quarterly", "monthly", "registered")
"""What the platform dashboard shows, by name (:func:`compute_monitoring_frames`)."""


def compute_monitoring_frames(config: GenomlabConfig) -> dict[str, pl.DataFrame]:
    """The platform dashboard's frames: ``overview`` (:func:`compute_node_overview`),
    ``quarterly`` and ``monthly`` (:func:`compute_node_activity`) and ``registered``
    (:func:`genomlab.platform.node_seed.get_registered_nodes_frame`); in-process, or as the
    platform service answers them (``GET /api/monitoring``) to platform staff."""
    from genomlab.platform.node_seed import get_registered_nodes_frame

    return {"overview": compute_node_overview(config),
            "quarterly": compute_node_activity(config, period="quarter"),
            "monthly": compute_node_activity(config),
            "registered": get_registered_nodes_frame(config)}
