"""The platform activity report: what every institution recorded, month by month.

Works on what every genomlab home has (the institutions' ledgers), so it is public: the counts it
publishes pass the disclosure checks (a month with fewer events than the minimum cell count
withholds the report).
"""

from __future__ import annotations

import polars as pl

from genomlab.config import GenomlabConfig
from genomlab.dashboards.ledger_health import compute_daily_activity, compute_ledger_health


def compute_monthly_activity(config: GenomlabConfig, *, months: int = 12) -> pl.DataFrame:
    """Events per institution and month (the last ``months`` months with activity).

    Columns ``institution``, ``month`` (``YYYY-MM``), ``n_events``.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> compute_monthly_activity(config).columns
    ['institution', 'month', 'n_events']
    """
    daily = compute_daily_activity(config)
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
    health = compute_ledger_health(config)
    return health.select("institution", "status", pl.col("events").alias("n_events"))
