"""Node stores keep no join key across nodes (issue 21, "Nothing lost, nothing leaked").

``grz_submissions`` and ``kdk_records`` both kept the hospital's IK, the exact submission date
and the submission, disease, coverage and library type; joining on them linked every GRZ dataset
to its KDK record without the trust centre. Now a GRZ keeps the submission date only to the
month (``submission_month``: what BfArM's sampling rule and the quarterly report need) and a KDK
keeps none of these fields in ``kdk_records`` (they go to the platform in the Prüfbericht, read
from the file at intake).

This revision changes the tables in place: ``grz_submissions.submission_date`` becomes
``submission_month`` (its first seven characters), and ``kdk_records`` loses the case fields.
The rows then equal a replay of the ledger, since the projection keeps a day's month and ignores
the case fields in events of older homes.

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

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KDK_CASE_FIELDS = ("submitter_id", "submission_date", "submission_type", "disease_type",
                   "coverage_type", "library_type")
"""The ``kdk_records`` columns this revision drops."""


def _columns(table: str) -> set[str] | None:
    """The table's column names, or ``None`` if it does not exist yet (the node's code creates
    it, in its current shape, when it opens the store)."""
    inspector = sa.inspect(op.get_bind())
    if table not in inspector.get_table_names():
        return None
    return {c["name"] for c in inspector.get_columns(table)}


def _month_of_submission_date() -> None:
    columns = _columns("grz_submissions")
    if columns is None or "submission_date" not in columns:
        return
    with op.batch_alter_table("grz_submissions") as batch:
        batch.add_column(sa.Column("submission_month", sa.String(length=7), nullable=True))
    op.execute("UPDATE grz_submissions SET submission_month = substr(submission_date, 1, 7)")
    with op.batch_alter_table("grz_submissions") as batch:
        batch.drop_column("submission_date")


def _drop_kdk_case_fields() -> None:
    columns = _columns("kdk_records")
    present = [c for c in KDK_CASE_FIELDS if columns is not None and c in columns]
    if present:
        with op.batch_alter_table("kdk_records") as batch:
            for column in present:
                batch.drop_column(column)


def upgrade() -> None:
    kind = context.config.attributes["kind"]
    if kind == "grz":
        _month_of_submission_date()
    elif kind == "kdk":
        _drop_kdk_case_fields()
