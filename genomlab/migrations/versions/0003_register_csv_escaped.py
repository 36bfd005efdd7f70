"""Register CSV lines escape spreadsheet formulas (issue 21).

The platform's ``app_register`` keeps each entry's CSV line pre-rendered. Lines rendered before
this revision hold a title such as ``=HYPERLINK(…)`` unescaped; replaying the platform's
projection renders every line again through :mod:`genomlab.people_csv`. Events are untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import context, op

from genomlab.migrations.replay import replay_projection

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if context.config.attributes["kind"] == "platform":
        from genomlab.platform.applications.projection import PROJECTION

        replay_projection(op.get_bind(), PROJECTION)
