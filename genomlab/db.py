"""Database helpers shared by every institution store (SQLite by default, PostgreSQL optionally).

SQLite files are opened in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so that two processes never both read-then-write the same state (the second
waits, then sees the first one's result). Read-only work uses :func:`read_connection`, which takes
no write lock.

PostgreSQL stores run at READ COMMITTED; the ledger serialises writers by locking its head row
(``SELECT ... FOR UPDATE``), so a command reads the state its predecessor committed. A store URL
may put the institution into its own schema with libpq's ``options``, e.g.
``postgresql+psycopg://grz@db/genomlab?options=-csearch_path%3Dgrz_grzk00001``; the schema is
created on first use (unquoted names fold to lower case, as PostgreSQL folds them).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

_ENGINES: dict[str, Engine] = {}
_READONLY = "genomlab_readonly"


def get_engine(url: str) -> Engine:
    """One engine per URL and process; creates the folder of a SQLite file."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _create(url)
        _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests and forked workers call this)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def close_idle_connections() -> None:
    """Close the idle pooled connections of every engine, keeping the engines (their pools
    reconnect on the next use). A long-lived process that opens many stores, such as the
    PostgreSQL test pass with its new schemas per test home, would otherwise keep two idle
    connections per store until the server's ``max_connections`` ran out."""
    for engine in _ENGINES.values():
        engine.dispose()


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _create_postgresql(parsed)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _create_postgresql(url: URL) -> Engine:
    # Small pools: every institution store and process has its own engine, and a CLI command
    # needs one connection; pre-ping survives a server restart between commands.
    engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=8,
                           isolation_level="READ COMMITTED")
    schema = search_path_schema(url)
    if schema is not None:
        if not re.fullmatch(r"\w{1,63}", schema):
            raise ValueError(f"{url.render_as_string()}: schema {schema!r} is not a plain name")
        with engine.begin() as conn:
            # serialise concurrent first uses: CREATE SCHEMA IF NOT EXISTS itself can race
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def search_path_schema(url: URL) -> str | None:
    """The first schema that a PostgreSQL URL's ``options=-csearch_path=...`` names, or ``None``.

    Examples
    --------
    >>> search_path_schema(make_url("postgresql://h/db?options=-csearch_path%3DGRZ_x,public"))
    'grz_x'
    """
    options = url.query.get("options", "")
    for option in (options,) if isinstance(options, str) else options:
        for part in option.split():
            if part.startswith("-csearch_path="):
                first = part.removeprefix("-csearch_path=").split(",")[0].strip()
                return first[1:-1] if first.startswith('"') else first.lower()
    return None


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: no write lock on SQLite."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_READONLY: True})
        with conn.begin():
            yield conn
