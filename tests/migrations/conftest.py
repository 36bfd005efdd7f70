"""A home in the release-1 format (before migrations existed), on SQLite or PostgreSQL.

``data/release1_home`` was made by release-1 code (commit 0b9a6ab): a platform with users,
datasets and six applications (approved, rejected, under review, submitted) and a trust centre
with 15 enrolled persons. Each store is shipped as its SQLite DDL plus its rows (JSON), with the
institutions' keys. On SQLite the DDL is run as release 1 ran it; on PostgreSQL
(``PYTEST_POSTGRES``) the tables come from migration 0001 and ``alembic_version`` is dropped, as
release 1 had none. Then the rows go in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, insert, text

from genomlab.config import GenomlabConfig
from genomlab.db import get_engine
from genomlab.institution import Institution
from genomlab.migrations import FIRST_REVISION, upgrade_store

RELEASE1 = Path(__file__).parent / "data" / "release1_home"
KINDS = ("platform", "trust_center")


def read_release1_dump(kind: str) -> dict:
    return json.loads((RELEASE1 / kind / f"{kind}.release1.json").read_text(encoding="utf-8"))


def load_release1_store(config: GenomlabConfig, kind: str) -> None:
    institution = Institution(config, kind)  # type: ignore[arg-type]
    shutil.copytree(RELEASE1 / kind / "keys", institution.directory / "keys")
    dump = read_release1_dump(kind)
    engine = institution.engine()
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            for statement in dump["schema"]:
                conn.exec_driver_sql(statement)
    else:
        upgrade_store(institution.store_url, kind, FIRST_REVISION)  # type: ignore[arg-type]
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
    with engine.begin() as conn:
        for name, table in dump["tables"].items():
            if table["rows"]:
                reflected = Table(name, MetaData(), autoload_with=conn)
                conn.execute(insert(reflected), [dict(zip(table["columns"], row, strict=True))
                                                 for row in table["rows"]])


@pytest.fixture
def release1_home(config: GenomlabConfig) -> GenomlabConfig:
    for kind in KINDS:
        load_release1_store(config, kind)
    get_engine(config.store_url("platform")).dispose()
    return config
