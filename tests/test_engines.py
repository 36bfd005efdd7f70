"""The PostgreSQL pass's own checks (tests/engines.py): URL, SQLite guard, count line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.engines import (
    SqliteGuard,
    SqliteInPostgresPassError,
    format_engine_counts,
    get_engine_name,
)


def test_get_engine_name__refuses_a_url_that_is_no_postgresql() -> None:
    assert get_engine_name("") == "sqlite"
    assert get_engine_name("postgresql+psycopg://genomlab@127.0.0.1:55432/t") == "postgresql"
    with pytest.raises(ValueError, match="no postgresql"):
        get_engine_name("sqlite:///stores.db")


@pytest.mark.sqlite_reference  # in the PostgreSQL pass the allowed opens pass its guard too
def test_sqlite_guard__refuses_files_by_sqlite3_and_sqlalchemy_not_memory(tmp_path: Path) -> None:
    guard = SqliteGuard()
    guard.install()
    try:
        with pytest.raises(SqliteInPostgresPassError, match=r"a\.db"):
            sqlite3.connect(tmp_path / "a.db")
        with pytest.raises(SqliteInPostgresPassError, match=r"b\.db"):
            create_engine(f"sqlite:///{tmp_path}/b.db").connect()
        create_engine("sqlite://").connect().close()  # in memory: no store
        guard.allowed = True  # a test marked sqlite_reference
        sqlite3.connect(tmp_path / "c.db").close()
    finally:
        guard.uninstall()
    assert [opened.splitlines()[0] for opened in guard.opened] == [
        str(tmp_path / "a.db"), str(tmp_path / "b.db")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]
    sqlite3.connect(tmp_path / "d.db").close()  # uninstalled: SQLite as before


def test_format_engine_counts__names_engine_selected_and_outcomes() -> None:
    stats = {"passed": ["r"] * 3, "skipped": ["r"], "deselected": ["r"] * 2, "": ["setup"]}
    assert format_engine_counts("postgresql", 4, stats) == (
        "engine postgresql: 4 selected: 3 passed, 0 failed, 0 error, 1 skipped, 0 xfailed, "
        "0 xpassed, 2 deselected")
