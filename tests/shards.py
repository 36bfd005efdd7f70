"""A deterministic share of the suite by test file: ``PYTEST_SHARD=K/N``.

The shifted-clock passes of ``make test`` (``.ci/passes.py``) split the fast tests between them
instead of each running all of them: every test still runs once under today's clock and once
under one of the shifted clocks. The share is by file (``zlib.crc32`` of its path relative to the
repository, modulo ``N``), so a module's fixtures stay in one pass and the split does not change
with the order of collection or with the machine.
"""

from __future__ import annotations

import zlib
from pathlib import Path

SHARD_VARIABLE = "PYTEST_SHARD"


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``, ``0 <= K < N``.

    >>> parse_shard("1/2")
    (1, 2)
    """
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"{SHARD_VARIABLE}={text!r}: expected K/N, e.g. 0/2") from None
    if not 0 <= index < count:
        raise ValueError(f"{SHARD_VARIABLE}={text!r}: K must be in 0..N-1")
    return index, count


def get_shard(path: Path, root: Path, count: int) -> int:
    """The share (``0..count-1``) a test file at ``path`` belongs to."""
    return zlib.crc32(path.resolve().relative_to(root).as_posix().encode()) % count
