"""Meldebestätigungen carry BfArM's Leistungsdatum counter (``platform_confirmations``).

Each confirmation records ``JJJJMMTT`` plus the hospital's running counter of the day (the IBE
string's second field, :mod:`genomlab.platform.mb_format`). Rows of older stores get ``NULL``:
their Meldebestätigungen are rebuilt with counter 000 (their events carry no counter either), so
nothing is replayed. The new tables ``platform_confirmations_replaced`` and
``platform_confirmation_billings`` are created by the platform's code when it opens the store
(older events never fill them: a replacement recorded before this revision is not listed as
revoked, and nothing was billed).

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if context.config.attributes["kind"] != "platform":
        return
    inspector = sa.inspect(op.get_bind())
    if "platform_confirmations" not in inspector.get_table_names():
        return  # the platform's code creates the table, with the column, when it opens the store
    if "leistungsdatum" not in {c["name"] for c in inspector.get_columns("platform_confirmations")}:
        op.add_column("platform_confirmations",
                      sa.Column("leistungsdatum", sa.String(length=11), nullable=True))
