"""KDK records remember the file they came from: ``kdk_records.source_digest``.

Records are keyed by a keyed hash of their tanC, no longer by file name; the sha256 of the
record file tells a rerun of the same file from another file with the same tanC (refused).
Rows of older homes keep their file-name keys and get no digest (``NULL``): a rerun of the file
named like the row resumes it, as before. No event is rewritten and nothing is replayed (the
column is empty in every older event as well).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if context.config.attributes["kind"] != "kdk":
        return
    inspector = sa.inspect(op.get_bind())
    if "kdk_records" not in inspector.get_table_names():
        return  # the node's code creates the table, with the column, when it opens the store
    if "source_digest" not in {c["name"] for c in inspector.get_columns("kdk_records")}:
        op.add_column("kdk_records",
                      sa.Column("source_digest", sa.String(length=64), nullable=True))
