"""The feasibility index moves into the data service's store (issue 21).

Releases before this one kept the index as Parquet files under ``<home>/data_service/
feasibility``: row-level data (sex, age band, ICD-10-GM and HPO per dataset, exact carrier
counts) in files beside the store. The index now lives in the store's ``ds_index_*`` tables
(:mod:`genomlab.data_service.index_tables`, created by the data service when it opens the
store); this revision removes the old folder. The index is derived from the nodes' reports:
``genomlab data-service index`` rebuilds it. No event is touched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import context

from genomlab.data_service.index_tables import remove_legacy_index_files

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    directory = context.config.attributes.get("directory")
    if context.config.attributes["kind"] == "data_service" and directory is not None:
        remove_legacy_index_files(directory)
