"""The home folder: genomlab marks the folders it creates, and deletes only marked ones.

``genomlab demo --fresh`` deletes the home before it starts over. Pointing ``GENOMLAB_HOME`` at
the wrong folder (``~``, a project folder) must never wipe it, so a home that genomlab creates
carries a marker file, :data:`HOME_MARKER` (JSON with the home format version), and only a
folder with that marker is ever deleted. A missing or empty folder becomes a home and gets the
marker; a non-empty folder without it is used as it is, but never deleted.

A home can be moved (copied elsewhere, the old folder deleted): what stores, ledgers and records
keep of a path inside the home is relative to it (:func:`get_home_relative`), resolved against
the home it is read in (:func:`resolve_in_home`); absolute paths that older records hold are
returned as they are.

Everything genomlab writes under a home is for its owner only: :func:`restrict_file_modes`
sets the process umask to 077 (files 0600, folders 0700) whenever a home is opened, in the CLI
and before Hail starts, so stores (SQLite files with their ``-wal``/``-shm``), Parquet tables,
MatrixTables, workspaces and releases are never readable by other local accounts. Processes
genomlab starts (Spark's JVM, papermill and Voila kernels) inherit the umask.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from genomlab.errors import GenomlabError

HOME_MARKER = ".genomlab-home"
"""Name of the marker file at the top of a home genomlab created."""
HOME_FORMAT_VERSION = 1
"""Format version written into the marker."""
HOME_UMASK = 0o077
"""The umask of every genomlab process: nothing it writes is open to group or others."""


def restrict_file_modes() -> None:
    """Owner-only modes (umask 077) for all this process and its children create from now on."""
    os.umask(HOME_UMASK)


def is_marked_home(home: Path) -> bool:
    """Whether ``home`` carries a readable genomlab marker (a regular file, not a link)."""
    marker = home / HOME_MARKER
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        return isinstance(json.loads(marker.read_text(encoding="utf-8")).get("format"), int)
    except (OSError, ValueError, AttributeError):
        return False


def ensure_home(home: Path) -> Path:
    """Create ``home`` if needed (umask 077 from now on); a new or empty home gets the marker.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> home = ensure_home(pathlib.Path(tempfile.mkdtemp()) / "home")
    >>> is_marked_home(home), (home / HOME_MARKER).read_text()
    (True, '{"format": 1}\\n')
    """
    restrict_file_modes()
    if (home / HOME_MARKER).is_file():
        return home
    home.mkdir(parents=True, exist_ok=True)
    if not any(home.iterdir()):
        (home / HOME_MARKER).write_text(json.dumps({"format": HOME_FORMAT_VERSION}) + "\n",
                                        encoding="utf-8")
    return home


def clear_home(home: Path) -> None:
    """Delete ``home`` for a fresh start, if genomlab made it; refuse any other folder.

    A missing or empty folder is fine (nothing is lost). A non-empty folder without the marker
    raises :class:`GenomlabError` naming it, and nothing is deleted.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "thesis.tex").write_text("years of work")
    >>> clear_home(folder)
    Traceback (most recent call last):
    ...
    genomlab.errors.GenomlabError: ... is not a genomlab home (no .genomlab-home marker); ...
    """
    if home.is_symlink():
        raise GenomlabError(f"{home} is a symbolic link, not a genomlab home; refusing to delete "
                            "it")
    if not home.exists():
        return
    if not home.is_dir():
        raise GenomlabError(f"{home} is not a folder; refusing to delete it")
    if not any(home.iterdir()):
        return
    if not is_marked_home(home):
        raise GenomlabError(f"{home} is not a genomlab home (no {HOME_MARKER} marker); refusing "
                            "to delete it -- set GENOMLAB_HOME to another folder")
    shutil.rmtree(home)


def get_home_relative(home: Path, path: Path) -> str:
    """``path`` relative to ``home`` when it lies inside it (what records store, so that a home
    can be moved); otherwise as given.

    Examples
    --------
    >>> get_home_relative(Path("/srv/home"), Path("/srv/home/reports/runs/a/b"))
    'reports/runs/a/b'
    >>> get_home_relative(Path("/srv/home"), Path("/elsewhere/x"))
    '/elsewhere/x'
    """
    try:
        return path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def resolve_in_home(home: Path, stored: str) -> Path:
    """A path a record stored, resolved against the home it is read in (an absolute path that
    an older record stored stays as it is).

    Examples
    --------
    >>> resolve_in_home(Path("/mnt/moved"), "reports/runs/a/b").as_posix()
    '/mnt/moved/reports/runs/a/b'
    >>> resolve_in_home(Path("/mnt/moved"), "/old/home/x").as_posix()
    '/old/home/x'
    """
    return home / stored
