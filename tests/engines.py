"""Which database engine a test run is on, the PostgreSQL pass's guard, and its count line.

``make test`` runs the suite on SQLite, then the store tests again with ``PYTEST_POSTGRES`` set
(see ``tests/conftest.py``): every institution store of a test home is then a PostgreSQL schema.
A test that opened a SQLite store anyway (a configuration built without the test stores, a
hand-made ``sqlite:///`` URL) would silently test SQLite a second time. :class:`SqliteGuard`
wraps ``sqlite3.connect``, through which SQLAlchemy's SQLite dialect and hand-written code alike
open SQLite files (the dialect calls ``sqlite3.dbapi2.connect``, hand-written code mostly
``sqlite3.connect``: both are wrapped), and refuses every open of a SQLite file outside tests
marked ``sqlite_reference`` (a SQLite file that is no store, e.g. the release-1 schema a
migration is compared with). In-memory databases hold no store and stay allowed: the ledger
replays a projection into one to compare it with the live tables. So does BfArM's grz-db
(``<GRZ>/grzctl/grz-db.sqlite``, :func:`is_grz_db`): it is grzctl's own database, not a genomlab
store, SQLite on both GRZ paths as grzctl's set-up configures it (grzctl opens it in its own
process anyway, where this guard never was); pointing grz-db at PostgreSQL is not built.
"""

from __future__ import annotations

import sqlite3
import sqlite3.dbapi2
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ENGINE_COUNTED = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")


class SqliteInPostgresPassError(RuntimeError):
    """A test of the PostgreSQL pass opened a SQLite database."""


def get_engine_name(postgres_url: str) -> str:
    """``postgresql`` when the pass runs on ``PYTEST_POSTGRES``, else ``sqlite``.

    Raises
    ------
    ValueError
        ``PYTEST_POSTGRES`` is set but names no PostgreSQL database.

    Examples
    --------
    >>> get_engine_name(""), get_engine_name("postgresql+psycopg://u@127.0.0.1:5432/t")
    ('sqlite', 'postgresql')
    """
    if not postgres_url:
        return "sqlite"
    if not postgres_url.startswith(("postgresql://", "postgresql+")):
        raise ValueError(f"PYTEST_POSTGRES={postgres_url!r} is no postgresql:// URL")
    return "postgresql"


def format_engine_counts(engine: str, n_selected: int, stats: Mapping[str, Sequence[Any]]) -> str:
    """One line with the engine, the tests selected and pytest's outcome counts.

    Examples
    --------
    >>> format_engine_counts("sqlite", 3, {"passed": [1, 2], "skipped": [3], "": [4]})
    'engine sqlite: 3 selected: 2 passed, 0 failed, 0 error, 1 skipped, 0 xfailed, 0 xpassed, \
0 deselected'
    """
    return f"engine {engine}: {n_selected} selected: " + ", ".join(
        f"{len(stats.get(outcome, ()))} {outcome}" for outcome in ENGINE_COUNTED)


def is_in_memory(database: Any) -> bool:
    """Whether ``sqlite3.connect(database)`` opens no file (``:memory:``, ``""``, memory URIs).

    Examples
    --------
    >>> is_in_memory(":memory:"), is_in_memory("file::memory:?cache=shared"), is_in_memory("a.db")
    (True, True, False)
    """
    name = str(database)
    return name in ("", ":memory:") or name.startswith("file::memory:") or "mode=memory" in name


def is_grz_db(database: Any) -> bool:
    """Whether ``database`` is a GRZ's grz-db file (``…/grzctl/grz-db.sqlite``).

    Examples
    --------
    >>> is_grz_db("/h/grz/GRZK00001/grzctl/grz-db.sqlite"), is_grz_db("/h/grz/GRZK00001/store.db")
    (True, False)
    """
    path = str(database).split("?", 1)[0].removeprefix("file:")
    return path.endswith("/grzctl/grz-db.sqlite")


class SqliteGuard:
    """Refuses SQLite opens while installed, except while a test that may use SQLite runs."""

    def __init__(self) -> None:
        self.opened: list[str] = []  # every refused open, with where it came from
        self.allowed = False
        self._connect: Callable[..., sqlite3.Connection] | None = None

    def install(self) -> None:
        self._connect = sqlite3.dbapi2.connect
        sqlite3.connect = sqlite3.dbapi2.connect = self._refuse  # type: ignore[assignment]

    def uninstall(self) -> None:
        if self._connect is not None:
            sqlite3.connect = sqlite3.dbapi2.connect = self._connect  # type: ignore[assignment]
            self._connect = None

    def _refuse(self, database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if self._connect is not None and (self.allowed or is_in_memory(database)
                                       or is_grz_db(database)):
            return self._connect(database, *args, **kwargs)
        caller = "".join(traceback.format_stack(limit=12)[:-1])
        self.opened.append(f"{database}\n{caller}")
        raise SqliteInPostgresPassError(
            f"the PostgreSQL pass opened the SQLite database {database!r}: this store would "
            "not be tested on PostgreSQL (build the configuration with tests.conftest.config_for "
            "or mark a SQLite file that is no store with @pytest.mark.sqlite_reference)")
