"""The feasibility index's tables in the data service's own store (``ds_index_*``).

The index holds row-level data (one row per dataset with sex, age band, ICD-10-GM and HPO
lists, and each GRZ's exact carrier count per allele), so it lives where the data service's
other confidential state lives: in its store (SQLite file with the store's owner-only mode, or
the configured PostgreSQL database and its grants), never in loose files under the home.

The tables are no projection: their rows are in no event (the ledger, append-only and kept
forever, records only each build's counts and content digest). A build replaces every row and
the current digest in one transaction, together with its ``feasibility.index_built`` event, so
a reader sees the old index or the new one. Row numbers (``row``) keep the index's sorted order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    select,
    text,
)

from genomlab.db import read_connection

LEGACY_INDEX_DIR = "feasibility"
"""The folder under ``<home>/data_service`` where releases before issue 21 kept the index as
Parquet files; removed by the next build and by migration ``0006``."""

index_metadata = MetaData()
index_state = Table(
    "ds_index_state", index_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
)
genome_rows = Table(
    "ds_index_genome", index_metadata,
    Column("row", Integer, primary_key=True, autoincrement=False),
    Column("node", String(32), nullable=False),
    Column("disease_type", Text),
    Column("library_type", Text),
)
clinical_rows = Table(
    "ds_index_clinical", index_metadata,
    Column("row", Integer, primary_key=True, autoincrement=False),
    Column("node", String(32), nullable=False),
    Column("disease_type", Text),
    Column("library_type", Text),
    Column("sex", Text),
    Column("age_band", Text),
    Column("icd10gm", Text, nullable=False),  # JSON list, sorted
    Column("hpo", Text, nullable=False),  # JSON list, sorted
)
site_rows = Table(
    "ds_index_sites", index_metadata,
    Column("row", Integer, primary_key=True, autoincrement=False),
    Column("node", String(32), nullable=False),
    Column("variant", Text, nullable=False),
    Column("n_carriers", Integer, nullable=False),
)
INDEX_TABLES = (genome_rows, clinical_rows, site_rows)
"""In the order of :func:`genomlab.data_service.index.collect_node_reports`' frames."""
LIST_COLUMNS = ("icd10gm", "hpo")
INDEX_SCHEMAS = (
    pl.Schema({"node": pl.String, "disease_type": pl.String, "library_type": pl.String}),
    pl.Schema({"node": pl.String(), "disease_type": pl.String(), "library_type": pl.String(),
               "sex": pl.String(), "age_band": pl.String(), "icd10gm": pl.List(pl.String),
               "hpo": pl.List(pl.String)}),
    pl.Schema({"node": pl.String, "variant": pl.String, "n_carriers": pl.Int64}),
)
"""The columns of the three index frames, as collected and as loaded."""


def create_index_tables(engine: Engine) -> None:
    """Create the index tables if missing (one process at a time on PostgreSQL)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('genomlab.ledger'))"))
        index_metadata.create_all(conn)


def replace_index_rows(conn: Connection, frames: Sequence[pl.DataFrame], digest: str) -> None:
    """Replace every index row and the current digest inside the caller's transaction."""
    for table in (*INDEX_TABLES, index_state):
        conn.execute(delete(table))
    for table, frame in zip(INDEX_TABLES, frames, strict=True):
        rows = frame.with_row_index("row").to_dicts()
        for row in rows:
            row.update((c, json.dumps(row[c])) for c in LIST_COLUMNS if c in row)
        if rows:
            conn.execute(insert(table), rows)
    conn.execute(insert(index_state).values(id=1, digest=digest))


def read_index_digest(engine: Engine) -> str | None:
    """The digest of the index in the store, ``None`` if none was built."""
    if not inspect(engine).has_table(index_state.name):
        return None
    with read_connection(engine) as conn:
        return conn.execute(select(index_state.c.digest)).scalar()


def read_index_frames(engine: Engine) -> tuple[pl.DataFrame, ...]:
    """The index tables as frames of :data:`INDEX_SCHEMAS` (lists decoded), in stored order."""
    frames = []
    with read_connection(engine) as conn:
        for table, schema in zip(INDEX_TABLES, INDEX_SCHEMAS, strict=True):
            names = list(schema)
            rows = conn.execute(select(*(table.c[n] for n in names)).order_by(table.c.row)).all()
            stored = pl.Schema({n: pl.String() if n in LIST_COLUMNS else t
                                for n, t in schema.items()})
            frame = pl.DataFrame(rows, schema=stored, orient="row")
            frames.append(frame.with_columns(pl.col(c).str.json_decode(schema[c])
                                             for c in LIST_COLUMNS if c in names))
    return tuple(frames)


def remove_legacy_index_files(service_dir: Path) -> list[Path]:
    """Remove the Parquet index (and leftover staging folders) of an older release.

    Returns what was removed. ``service_dir`` is ``<home>/data_service``.
    """
    removed = sorted(p for p in service_dir.glob(f".{LEGACY_INDEX_DIR}.*") if p.is_dir())
    legacy = service_dir / LEGACY_INDEX_DIR
    if legacy.is_dir():
        removed.append(legacy)
    for path in removed:
        shutil.rmtree(path)
    return removed
