"""The trust centre's case-identification contacts (``tc_case_contacts``, issue 18).

Case identification gives the requesting hospital a new random number and the other hospital's
contact; the table keeps the number's keyed reference, the contacted hospital and a binding only
the number opens (removed when that hospital redeems it). Older stores had no such events, so
the table starts empty and nothing is replayed.

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0015"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if context.config.attributes["kind"] != "trust_center":
        return
    if "tc_case_contacts" in sa.inspect(op.get_bind()).get_table_names():
        return  # created by the trust centre's code when it opened a new store
    op.create_table(
        "tc_case_contacts",
        sa.Column("contact_ref", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("le_ik", sa.String(length=9), nullable=False),
        sa.Column("sealed_binding", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("contact_ref"),
    )
    op.create_index(op.f("ix_tc_case_contacts_request_id"), "tc_case_contacts", ["request_id"])
