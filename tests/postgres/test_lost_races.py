"""A lost race that the database reports is a ConflictError, never a raw driver exception.

On PostgreSQL the race is a real deadlock: another session has inserted (not yet committed) the
projection row a command will insert, and then waits for the ledger's head row, which the
command already holds while it waits for that row. PostgreSQL aborts the command, the first
waiter (40P01). On SQLite it is a writer that holds the database longer than the busy timeout.
Either way the command ends in ``ConflictError`` and nothing of it is recorded.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import Engine, create_engine, text

from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError
from genomlab.institution import Institution
from genomlab.ledger import Ledger
from genomlab.platform.applications import Role, Workflow
from genomlab.platform.store import PLATFORM_LEDGER


def _deadlock_on_postgresql(workflow: Workflow) -> None:
    other = create_engine(workflow.ledger.engine.url)
    with other.connect() as conn:
        conn.execute(text("INSERT INTO app_roles VALUES ('hanna', 'handler', 'x', 'now')"))
        holding = threading.Event()

        def take_head_row_after_the_command() -> None:
            holding.wait(30)
            _wait_until_a_session_waits_for_a_lock(other)  # the command, holding the head row
            try:
                conn.execute(text("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE"))
            finally:
                conn.rollback()

        thread = threading.Thread(target=take_head_row_after_the_command)
        thread.start()
        holding.set()
        try:
            with pytest.raises(ConflictError, match=r"concurrent write .*deadlock"):
                workflow.grant_role("root", "hanna", Role.HANDLER)
        finally:
            thread.join(30)
    other.dispose()


def _wait_until_a_session_waits_for_a_lock(engine: Engine, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")).scalar_one()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.05)
    raise TimeoutError("the command never waited for the row lock")


def _busy_on_sqlite(config: GenomlabConfig, workflow: Workflow) -> None:
    path = workflow.ledger.engine.url.database
    impatient = Ledger(create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2}),
                       Institution(config, "platform").keys().signing_key("ledger"), "platform",
                       PLATFORM_LEDGER)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ConflictError, match=r"concurrent write .*locked"):
            impatient.append("platform.user.registered",
                             {"user_id": "late", "institution": "BfArM", "name": "late"},
                             actor="root")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_transaction__database_lost_race_is_a_conflict_error(config: GenomlabConfig) -> None:
    workflow = Workflow(config)
    workflow.bootstrap_admin("root", institution="BfArM")
    workflow.register_user("root", "hanna", institution="BfArM", name="Hanna")
    head = workflow.ledger.head()
    if workflow.ledger.engine.dialect.name == "postgresql":
        _deadlock_on_postgresql(workflow)
    else:
        _busy_on_sqlite(config, workflow)
    assert workflow.ledger.head() == head  # nothing of the losing command was recorded
    assert workflow.ledger.verify().ok
