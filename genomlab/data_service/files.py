"""Atomic writes and deterministic content hashes of files and folders."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from genomlab.leftovers import make_owned_dir, make_owned_name, sweep_leftovers


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
    """A fresh folder next to ``target`` to write into before :func:`replace_dir`.

    First deletes what killed runs for ``target`` left next to it: their staging folders
    (``.<name>.staging-<pid>-…``) and the old ``target`` a crash between the two renames of
    :func:`replace_dir` kept (``.<name>.old-<pid>-…``). The caller deletes the new folder in a
    ``finally`` block if it does not reach :func:`replace_dir`.
    """
    sweep_leftovers(target.parent, f".{target.name}.old")
    return make_owned_dir(target.parent, f".{target.name}.staging")


def replace_dir(staging: Path, target: Path) -> None:
    """Move ``staging`` into place as ``target``; the old ``target`` goes only after the move.

    Both renames are on one file system, so a reader sees the old folder or the new one, never
    a half-written one (between the two renames ``target`` is briefly absent).
    """
    old = target.parent / make_owned_name(f".{target.name}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)
