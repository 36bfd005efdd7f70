"""Database helpers shared by every institution store (SQLite by default, PostgreSQL optionally).

SQLite files are opened in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so that two processes never both read-then-write the same state (the second
waits, then sees the first one's result). Read-only work uses :func:`read_connection`, which takes
no write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

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


def _create(url: str) -> Engine:
    parsed = make_url(url)
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


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: no write lock on SQLite."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_READONLY: True})
        with conn.begin():
            yield conn
