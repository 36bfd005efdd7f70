"""An index for the hospital's Leistungsdatum counter (``platform_confirmations``).

Each confirmation asks for the highest counter of the hospital's day. Without an index that was
a scan of every confirmation of the submitter on that day, once per Prüfbericht upload; with
``ix_platform_confirmations_submitter_leistungsdatum`` (``submitter_id``, ``leistungsdatum``) it is
one index look-up. Only the index is added: no data changes, nothing is replayed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEX = "ix_platform_confirmations_submitter_leistungsdatum"


def upgrade() -> None:
    if context.config.attributes["kind"] != "platform":
        return
    inspector = sa.inspect(op.get_bind())
    if "platform_confirmations" not in inspector.get_table_names():
        return  # the platform's code creates the table, with the index, when it opens the store
    if INDEX not in {i["name"] for i in inspector.get_indexes("platform_confirmations")}:
        op.create_index(INDEX, "platform_confirmations", ["submitter_id", "leistungsdatum"])
