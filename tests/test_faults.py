"""Resource faults end in one ``Error:`` line naming what ran out, not in a traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from genomlab.faults import describe_fault

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("code", "expected"), [
    (errno.ENOSPC, "disk full while writing /p (no space left on device)"),
    (errno.EDQUOT, "disk quota exceeded while writing /p (disk quota exceeded)"),
    (errno.EMFILE, "too many open files while opening /p (too many open files)"),
    (errno.ENFILE, "too many open files while opening /p (too many open files in system)"),
    (errno.EROFS, "read-only file system while writing /p (read-only file system)"),
    (errno.EACCES, "permission denied while accessing /p (permission denied)"),
    (errno.EPERM, "permission denied while accessing /p (operation not permitted)"),
])
def test_describe_fault__names_what_ran_out_and_the_path(code: int, expected: str) -> None:
    assert describe_fault(OSError(code, os.strerror(code), "/p")) == expected


def test_describe_fault__permission_error_without_a_path_is_no_resource_fault() -> None:
    assert describe_fault(OSError(errno.EACCES, os.strerror(errno.EACCES))) is None


def test_describe_fault__other_os_errors_are_left_alone() -> None:
    assert describe_fault(OSError(errno.ENOENT, os.strerror(errno.ENOENT), "/p")) is None


def test_describe_fault__full_sqlite_database_direct_and_through_sqlalchemy() -> None:
    driver = sqlite3.OperationalError("database or disk is full")
    wrapped = OperationalError("INSERT INTO events …", {}, driver)
    expected = "disk full while writing a database (database or disk is full)"
    assert describe_fault(driver) == expected
    assert describe_fault(wrapped) == expected
    assert describe_fault(sqlite3.OperationalError("no such table: events")) is None


def test_describe_fault__out_of_memory() -> None:
    assert describe_fault(MemoryError()) == "out of memory"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_cli__writing_to_a_full_device_is_one_error_line(tmp_path: Path) -> None:
    """A real ENOSPC: ``/dev/full`` refuses every write with 'No space left on device'."""
    env = {**os.environ, "GENOMLAB_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(REPO)}
    env.pop("GENOMLAB_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "genomlab.cli", "platform", "confirmation-key",
         "--out", "/dev/full"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 1, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: disk full"), lines
    assert "Traceback" not in result.stderr


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real, tiny file system (256 KiB tmpfs) that fills up; needs root (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
                   check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


@pytest.mark.hail
def test_describe_fault__hail_write_on_a_full_disk_is_one_line(hl: Any, full_tmpfs: Path
                                                               ) -> None:
    """Hail raises a ~270-line ``FatalError`` for a full disk; it becomes one line."""
    mt = hl.utils.range_matrix_table(2000, 200).annotate_entries(x=hl.rand_norm())
    with pytest.raises(Exception, match="No space left on device") as raised:
        mt.write(str(full_tmpfs / "x.mt"))
    assert len(str(raised.value).splitlines()) > 50  # what the user saw before
    assert describe_fault(raised.value) == (
        "disk full while Hail/Spark was writing (java.io.IOException: No space left on device)")


def test_describe_fault__other_java_errors_are_left_alone() -> None:
    from hail.utils.java import FatalError

    assert describe_fault(FatalError("Error summary: HailException: invalid locus")) is None
