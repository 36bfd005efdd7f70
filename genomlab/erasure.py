"""What every node's erasure shares: why data leaves, how an erased pseudonym is named, and
how a store's freed bytes are scrubbed.

A node erases a person's datasets for one of :data:`ERASURE_REASONS`:

- ``withdrawal``: research consent withdrawn; the person leaves the consented store;
- ``deletion``: a deletion request; the person leaves every store of the node;
- ``retention``: the person's last record at the node is older than :data:`RETENTION_YEARS`;
- ``correction``: a GenDV § 5 correction replaced the person's data (the node keeps only the
  corrected data).

Events record an erased dataset by :func:`get_erasure_digest` (sha256 of its pseudonym), never
by the pseudonym itself: the erasure event must not put the pseudonym back into the store.
Pseudonyms are 128-bit pseudo-random values, so the digest names nothing to anyone who does not
already hold the pseudonym.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import Engine

ErasureReason = Literal["withdrawal", "deletion", "retention", "correction"]
ERASURE_REASONS: tuple[ErasureReason, ...] = ("withdrawal", "deletion", "retention", "correction")
RETENTION_YEARS = 100
"""GRZ and KDK delete individual records after at most 100 years (genomde.md § 8.6)."""


def get_erasure_digest(pseudonym: str) -> str:
    """The sha256 (hex) of a dataset pseudonym: how erasure events name it.

    Examples
    --------
    >>> get_erasure_digest("GP-abc")[:12]
    'a412b631e0ba'
    """
    return hashlib.sha256(pseudonym.encode()).hexdigest()


def select_by_digest(pseudonyms: Iterable[str], digests: Iterable[str]) -> set[str]:
    """The pseudonyms whose erasure digest is in ``digests``.

    Examples
    --------
    >>> sorted(select_by_digest(["a", "b"], [get_erasure_digest("b")]))
    ['b']
    """
    wanted = set(digests)
    return {p for p in pseudonyms if get_erasure_digest(p) in wanted}


def scrub_store(engine: Engine) -> None:
    """Rewrite a SQLite store without its freed pages and empty its write-ahead log.

    Deleted rows stay in a SQLite file's free pages (and in the WAL) until they are reused;
    ``VACUUM`` rebuilds the file from live rows only, and ``wal_checkpoint(TRUNCATE)`` moves the
    WAL into it and truncates the WAL to zero bytes. A PostgreSQL store is left to its own
    ``VACUUM`` (dead tuples are not readable through SQL; the database's files are the
    operator's).
    """
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()
