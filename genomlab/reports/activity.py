"""Report tables: platform activity month by month, and the airlock's reviewer KPIs.

Works on what every genomlab home has (the institutions' ledgers), so it is public: the counts it
publishes pass the disclosure checks (a month with fewer events than the minimum cell count
withholds the report).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from genomlab.config import GenomlabConfig
from genomlab.dashboards.ledger_health import compute_daily_activity, compute_ledger_health

BOOKKEEPING_LEDGERS = ("airlock", "reports")


def compute_monthly_activity(config: GenomlabConfig, *, months: int = 12) -> pl.DataFrame:
    """Events per institution and month (the last ``months`` months with activity).

    Columns ``institution``, ``month`` (``YYYY-MM``), ``n_events``. Only the platform's
    institutions count: the airlock's and the report runner's own ledgers are bookkeeping.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> compute_monthly_activity(config).columns
    ['institution', 'month', 'n_events']
    """
    daily = compute_daily_activity(config).filter(
        ~pl.col("institution").is_in(BOOKKEEPING_LEDGERS))
    monthly = (
        daily.with_columns(pl.col("day").str.slice(0, 7).alias("month"))
        .group_by("institution", "month")
        .agg(pl.col("events").sum().alias("n_events"))
        .sort("month", "institution")
    )
    recent = monthly["month"].unique().sort(descending=True).head(months)
    return monthly.filter(pl.col("month").is_in(recent.implode()))


def compute_ledger_integrity(config: GenomlabConfig) -> pl.DataFrame:
    """Each institution's ledger verification status and size: ``institution``, ``status``,
    ``n_events``.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> compute_ledger_integrity(config).height
    0
    """
    health = compute_ledger_health(config).filter(
        ~pl.col("institution").is_in(BOOKKEEPING_LEDGERS))
    return health.select("institution", "status", pl.col("events").alias("n_events"))


def compute_confirmed_cases(config: GenomlabConfig) -> pl.DataFrame:
    """Cases the platform confirmed (Meldebestätigungen) per data node and quarter of
    submission: ``node``, ``quarter``, ``n_cases``. Each case is a person, so a public report
    suppresses small counts (:func:`genomlab.reports.tables.suppress_person_counts`).

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> compute_confirmed_cases(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})).columns
    ['node', 'quarter', 'n_cases']
    """
    from genomlab.platform.quarterly import compute_node_activity

    activity = compute_node_activity(config, period="quarter")
    return (activity.filter(pl.col("confirmations") > 0)
            .select(pl.col("node_id").alias("node"), pl.col("period").alias("quarter"),
                    pl.col("confirmations").cast(pl.Int64).alias("n_cases"))
            .sort("quarter", "node"))


def compute_airlock_kpis(config: GenomlabConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Release requests by status, and each output checker's workload and turnaround.

    Returns ``(by_status, by_reviewer)``: ``status``, ``n_requests``; and ``reviewer``,
    ``n_reviews``, ``n_approved``, ``n_rejected``, ``median_hours_to_review`` (from submission
    to the review).

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> [t.height for t in compute_airlock_kpis(config)]
    [0, 0]
    """
    from sqlalchemy import select

    from genomlab.airlock.requests import PROJECTION, open_airlock_ledger
    from genomlab.db import read_connection

    req, rev = PROJECTION.requests, PROJECTION.reviews
    with read_connection(open_airlock_ledger(config).engine) as conn:
        requests = conn.execute(select(req.c.request_id, req.c.status, req.c.submitted_at)).all()
        reviews = conn.execute(select(rev.c.request_id, rev.c.reviewer, rev.c.decision,
                                      rev.c.recorded_at)).all()
    by_status = (pl.DataFrame([r._asdict() for r in requests],
                              schema={"request_id": pl.String, "status": pl.String,
                                      "submitted_at": pl.String})
                 .group_by("status").agg(pl.len().cast(pl.Int64).alias("n_requests"))
                 .sort("status"))
    submitted = {r.request_id: r.submitted_at for r in requests}
    frame = pl.DataFrame(
        [{"reviewer": r.reviewer, "decision": r.decision,
          "hours": (datetime.fromisoformat(r.recorded_at)
                   - datetime.fromisoformat(submitted[r.request_id])).total_seconds()
          / 3600} for r in reviews],
        schema={"reviewer": pl.String, "decision": pl.String, "hours": pl.Float64})
    by_reviewer = (frame.group_by("reviewer").agg(
        pl.len().cast(pl.Int64).alias("n_reviews"),
        (pl.col("decision") == "approve").sum().cast(pl.Int64).alias("n_approved"),
        (pl.col("decision") == "reject").sum().cast(pl.Int64).alias("n_rejected"),
        pl.col("hours").median().round(2).alias("median_hours_to_review"))
        .sort("reviewer"))
    return by_status, by_reviewer
