"""The public register statistics report: data-use applications by quarter, status and purpose.

Counts over the platform's public application register (§ 64e (9) SGB V). The register listing
itself is published by the platform (``genomlab.platform.applications.register``); this report
adds the statistics and passes the disclosure checks before publication.
"""

from __future__ import annotations

import polars as pl

from genomlab.config import GenomlabConfig
from genomlab.platform.applications.register import get_register_page

_SCHEMA = pl.Schema({"quarter": pl.String(), "status": pl.String(),
                     "purposes": pl.List(pl.String), "level": pl.String()})


def get_register_frame(config: GenomlabConfig) -> pl.DataFrame:
    """One row per register entry: ``quarter`` of submission (``2026-Q1``), status, purposes,
    level."""
    rows = [{"quarter": f"{e['submitted_on'][:4]}-Q{(int(e['submitted_on'][5:7]) - 1) // 3 + 1}",
             "status": e["status"], "purposes": list(e["purposes"]), "level": e["level"]}
            for e in get_register_page(config, limit=None).entries]
    return pl.DataFrame(rows, schema=_SCHEMA)


def compute_register_statistics(config: GenomlabConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(by_quarter_status, by_purpose)`` with ``n_applications`` counts.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> [t.columns for t in compute_register_statistics(config)]
    [['quarter', 'status', 'n_applications'], ['purpose', 'n_applications']]
    """
    frame = get_register_frame(config)
    count = pl.len().cast(pl.Int64).alias("n_applications")
    by_quarter_status = frame.group_by("quarter", "status").agg(count).sort("quarter", "status")
    by_purpose = (frame.explode("purposes").rename({"purposes": "purpose"})
                  .drop_nulls("purpose").group_by("purpose").agg(count).sort("purpose"))
    return by_quarter_status, by_purpose
