"""What a refused door must leave alone: every store's row counts and ledger head (issue 18).

:func:`get_home_snapshot` reads every institution store of a home (platform, trust centre, data
service, airlock, reports, each GRZ and KDK that has a folder): the number of rows of each table
and the ledger's signed head. Two snapshots are equal only if nothing was recorded or stored
anywhere in between, and no new institution store was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from genomlab.config import GenomlabConfig
from genomlab.institution import existing_institutions
from genomlab.ledgers import open_ledger


def get_home_snapshot(config: GenomlabConfig) -> dict[str, Any]:
    """``{"<institution>.<table>": row count, "<institution>.head": (seq, hash)}`` of the home."""
    snapshot: dict[str, Any] = {}
    for institution in existing_institutions(config):
        ledger = open_ledger(institution)  # first: opening makes a missing table
        snapshot[f"{institution.name}.head"] = ledger.head()
        engine = institution.engine()
        with engine.connect() as conn:
            for table in sorted(inspect(conn).get_table_names()):
                snapshot[f"{institution.name}.{table}"] = conn.execute(
                    text(f'SELECT COUNT(*) FROM "{table}"')).scalar()
    return snapshot


def get_file_listing(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative paths), for checks that nothing was written."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
