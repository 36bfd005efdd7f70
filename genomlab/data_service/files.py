"""Atomic writes and deterministic content hashes of files and folders."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path


def compute_file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> compute_file_sha256(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def compute_digest(hashes: dict[str, str]) -> str:
    """One sha256 over ``name<TAB>hash`` lines sorted by name (a folder's content digest)."""
    text = "".join(f"{name}\t{value}\n" for name, value in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def make_staging_dir(target: Path) -> Path:
    """A fresh folder next to ``target`` to write into before :func:`replace_dir`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def replace_dir(staging: Path, target: Path) -> None:
    """Move ``staging`` into place as ``target``; the old ``target`` goes only after the move.

    Both renames are on one file system, so a reader sees the old folder or the new one, never
    a half-written one (between the two renames ``target`` is briefly absent).
    """
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)
