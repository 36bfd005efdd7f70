"""Release 2: the platform's public register and the trust centre's correction procedure.

- platform: ``app_register`` (each submitted application's public entry, pre-rendered);
- trust centre: ``tc_corrections`` (GenDV § 5 correction requests).

New projection tables are filled from the ledger: the institution's projection is cleared and
every event replayed through it, in this transaction. That is exactly what the projection code
does live, so afterwards ``projection_matches`` holds. It is also idempotent, so a store that
release-2 code already opened (and gave empty new tables) upgrades correctly as well.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from genomlab.migrations.replay import replay_projection

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kind = context.config.attributes["kind"]
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if kind == "platform":
        if "app_register" not in existing:
            _app_register()
        from genomlab.platform.applications.projection import PROJECTION

        replay_projection(op.get_bind(), PROJECTION)
    elif kind == "trust_center":
        if "tc_corrections" not in existing:
            _tc_corrections()
        from genomlab.trust_center.store import TrustCenterProjection

        replay_projection(op.get_bind(), TrustCenterProjection())


def _app_register() -> None:
    op.create_table(
        "app_register",
        sa.Column("application_id", sa.String(length=20), nullable=False),
        sa.Column("submitted_at", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("purposes", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("application_id"),
    )
    op.create_index(op.f("ix_app_register_status"), "app_register", ["status"], unique=False)
    op.create_index(op.f("ix_app_register_submitted_at"), "app_register", ["submitted_at"],
                    unique=False)


def _tc_corrections() -> None:
    op.create_table(
        "tc_corrections",
        sa.Column("correction_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=10), nullable=False),
        sa.Column("node_id", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("requested_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("correction_id"),
    )
