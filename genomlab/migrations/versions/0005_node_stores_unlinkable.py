"""Node stores keep no join key across nodes (issue 21, "Nothing lost, nothing leaked").

``grz_submissions`` and ``kdk_records`` both kept the hospital's IK, the exact submission date
and the submission, disease, coverage and library type; joining on them linked every GRZ dataset
to its KDK record without the trust centre. Now a GRZ keeps the submission date only to the
month (``submission_month``: what BfArM's sampling rule and the quarterly report need) and a KDK
keeps none of these fields in ``kdk_records`` (they go to the platform in the Prüfbericht, read
from the file at intake).

This revision recreates the GRZ's ``grz_submissions`` (``submission_date`` becomes
``submission_month``) and the KDK's ``kdk_records`` (the case fields dropped) and refills every
table of the node's projection from its ledger; the projection keeps a day's month and ignores
the case fields in events of older homes, so the rows equal what new code writes.

What stays: ledger events are hash-chained and signed, so the ``submission.validated`` and
``record.validated`` events an older home recorded keep the exact date and the case fields in
their payloads (new events carry neither). Anyone holding such a ledger can still join those
events; only the events recorded after this revision are free of them. A KDK's Parquet
``cases`` tables of an older home keep their extra columns (submission date and type, coverage
type, model-project consent) until the node's next intake rewrites the table of that consent
store; reading them (the data service) never returns those columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from genomlab.migrations.replay import replay_projection

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from genomlab.clinical_node import store as kdk
    from genomlab.genome_center import store as grz

    kind = context.config.attributes["kind"]
    if kind not in ("grz", "kdk"):
        return
    table, projection = ((grz.submissions, grz.PROJECTION) if kind == "grz"
                         else (kdk.records, kdk.PROJECTION))
    conn = op.get_bind()
    if table.name not in sa.inspect(conn).get_table_names():
        return  # the node's code creates its tables when it opens the store
    op.drop_table(table.name)
    table.create(conn)
    replay_projection(conn, projection)
