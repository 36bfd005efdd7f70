"""The ledger head is signed (issue 15: ledgers prove they are complete).

``ledger_head`` gets ``recorded_at``, ``key_id`` and ``signature``; every committed transaction
signs the head from now on, so deleting the newest events (which no checkpoint covers yet) is
detected. A store of an older release has an unsigned head: this revision signs it with the
institution's own ledger key (``<institution folder>/keys``) when the upgrade is given the
folder (``genomlab db upgrade`` does). The head is signed as the store holds it: trust on first
use, so run the upgrade before the store leaves the institution's hands, and anchor it
(``genomlab ledger anchor``). Without the folder the head stays unsigned and ``ledger verify``
says so. No event is touched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_COLUMNS = (("recorded_at", 32), ("key_id", 16), ("signature", 88))


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "ledger_head" not in inspector.get_table_names():
        return  # the institution's code creates the table, with the columns, when it opens
    present = {column["name"] for column in inspector.get_columns("ledger_head")}
    for name, length in NEW_COLUMNS:
        if name not in present:
            op.add_column("ledger_head", sa.Column(name, sa.String(length), nullable=True))
    directory: Path | None = context.config.attributes.get("directory")
    if directory is not None and (directory / "keys").is_dir():
        _sign_head(bind, directory / "keys")


def _sign_head(bind: sa.Connection, keys: Path) -> None:
    from genomlab.keys import FileKeyProvider
    from genomlab.ledger import events_table, head_table, sign_head

    head = bind.execute(sa.select(head_table).where(head_table.c.id == 1)).first()
    if head is None or head.seq == 0 or head.signature is not None:
        return
    recorded_at = bind.execute(sa.select(events_table.c.recorded_at)
                               .where(events_table.c.seq == head.seq)).scalar_one()
    signed = sign_head(FileKeyProvider(keys).signing_key("ledger"), head.seq, head.hash,
                       recorded_at)
    bind.execute(sa.update(head_table).where(head_table.c.id == 1).values(**signed))
