"""Temporary files and folders that a crashed run leaves behind, and their sweep.

Every temporary file or folder that holds genotypes or clinical data (a release's staging
folder, a merged VCF, a half-written Parquet table, an airlock snapshot, Hail's scratch) is
named ``<prefix>-<host>-<pid>-<random>`` inside the folder of the institution that owns the data
(owner-only, 0700), never in a shared ``/tmp``. The writer deletes it in a ``finally`` block;
SIGKILL skips that block, so the next run of the same operation calls
:func:`sweep_leftovers`, which deletes every entry with that prefix whose process is gone.
Entries of a process that still runs (a concurrent run) are kept, and so are entries made on
another host (a Spark driver elsewhere sharing the home's storage): only that host can tell
whether their process is gone.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
from pathlib import Path


def is_process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this machine (our own pid counts as alive).

    Examples
    --------
    >>> is_process_alive(os.getpid())
    True
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's process
        return True
    return True


def make_owned_name(prefix: str) -> str:
    """``<prefix>-<host>-<pid>-<random>``: a name :func:`sweep_leftovers` recognises.

    Examples
    --------
    >>> name = make_owned_name(".release.staging")
    >>> name.startswith(f".release.staging-{socket.gethostname()}-{os.getpid()}-")
    True
    """
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(6)}"


def sweep_leftovers(parent: Path, prefix: str) -> list[Path]:
    """Delete the entries ``<prefix>-<host>-<pid>-<random>`` of ``parent`` made on this host
    whose process is gone; return the deleted paths.

    Examples
    --------
    >>> import tempfile
    >>> folder, host = Path(tempfile.mkdtemp()), socket.gethostname()
    >>> (folder / f"merge-{host}-999999999-ab12").mkdir()
    >>> (folder / "merge-elsewhere-999999999-ab12").mkdir()
    >>> (folder / make_owned_name("merge")).mkdir()
    >>> [p.name.replace(host, "HOST") for p in sweep_leftovers(folder, "merge")]
    ['merge-HOST-999999999-ab12']
    """
    pattern = re.compile(re.escape(prefix) + r"-(.+)-(\d+)-[0-9a-f]+")
    host = socket.gethostname()
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for child in sorted(parent.iterdir()):
        match = pattern.fullmatch(child.name)
        if match is None or match.group(1) != host or is_process_alive(int(match.group(2))):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
        removed.append(child)
    return removed


def make_owned_dir(parent: Path, prefix: str) -> Path:
    """A fresh owner-only folder ``parent/<prefix>-<pid>-<random>``, after sweeping the ones
    that crashed runs left in ``parent``."""
    parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(parent, prefix)
    folder = parent / make_owned_name(prefix)
    folder.mkdir(mode=0o700)
    return folder


def make_owned_tmp_path(path: Path) -> Path:
    """Where to write ``path``'s new content before ``os.replace``: ``.<name>.tmp-<pid>-<random>``
    next to it, after sweeping what crashed writers of ``path`` left there."""
    prefix = f".{path.name}.tmp"
    sweep_leftovers(path.parent, prefix)
    return path.parent / make_owned_name(prefix)
