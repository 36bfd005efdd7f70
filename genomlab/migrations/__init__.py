"""Schema migrations (Alembic) of every institution store, so an existing home upgrades in place.

Each store (platform, trust centre, data service, every GRZ/KDK node; SQLite or PostgreSQL) keeps
its own ``alembic_version``. One linear history serves all kinds: a revision looks at the kind
of the store it migrates (``context.config.attributes["kind"]``) and changes only that
institution's tables. The ledger tables are the same everywhere, and migrations never rewrite
events, so hashes and signatures stay valid.

Homes made before migrations existed have no ``alembic_version``: a store that already holds a
ledger is taken to be release 1 (revision ``0001``) and upgraded from there; every later revision
is written to be safe on a store that newer code already opened.

Adding a revision: copy the newest file in ``versions/``, bump ``revision``/``down_revision``,
write ``upgrade()`` with ``op.*`` calls (frozen column definitions, not the live ``Table``
objects), and extend ``tests/migrations``.

Examples
--------
>>> import tempfile
>>> url = f"sqlite:///{tempfile.mkdtemp()}/platform.db"
>>> upgrade_store(url, "platform")
(None, '0005')
>>> get_store_revision(url)
'0005'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from genomlab.config import GenomlabConfig, InstitutionKind
from genomlab.db import get_engine
from genomlab.institution import existing_institutions

FIRST_REVISION = "0001"
"""Release 1: the format of homes made before migrations existed."""


@dataclass(frozen=True)
class StoreUpgrade:
    """What :func:`upgrade_home` did to one institution's store."""

    institution: str
    url: str
    before: str | None
    after: str


def _alembic_config(conn: Connection, kind: InstitutionKind) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    config.attributes["kind"] = kind
    return config


def get_head_revision() -> str:
    """The newest revision this release knows."""
    script = ScriptDirectory(str(Path(__file__).parent))
    head = script.get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def get_store_revision(url: str) -> str | None:
    """The revision a store is at; ``None`` for an empty store, ``0001`` for a pre-Alembic one."""
    with get_engine(url).connect() as conn:
        revision = _current(conn)
        if revision is None and inspect(conn).has_table("ledger_events"):
            return FIRST_REVISION
        return revision


def upgrade_store(url: str, kind: InstitutionKind, revision: str = "head"
                  ) -> tuple[str | None, str]:
    """Bring one institution's store to ``revision`` (default: the newest); returns (before, after).

    Runs in one transaction (PostgreSQL and SQLite both have transactional DDL) under the same
    lock the ledger's writers take, so commands wait for the upgrade instead of seeing half of it.
    """
    engine = get_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('genomlab.ledger'))"))
        before = _current(conn)
        config = _alembic_config(conn, kind)
        if before is None and inspect(conn).has_table("ledger_events"):
            before = FIRST_REVISION  # made by release 1, before migrations existed
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, revision)
        after = _current(conn)
    assert after is not None
    return before, after


def upgrade_home(config: GenomlabConfig) -> list[StoreUpgrade]:
    """Upgrade the store of every institution instance that has a folder under the home.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> (config.home / "platform").mkdir()
    >>> [(u.institution, u.before, u.after) for u in upgrade_home(config)]
    [('platform', None, '0005')]
    """
    done = []
    for institution in existing_institutions(config):
        before, after = upgrade_store(institution.store_url, institution.kind)
        done.append(StoreUpgrade(institution.name, institution.store_url, before, after))
    return done
