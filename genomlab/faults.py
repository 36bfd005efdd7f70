"""Resource faults (disk full, quota, open files, read-only, permissions, memory) as one line.

The CLI's error boundary (:class:`genomlab.cli.GenomlabGroup`) asks :func:`describe_fault` about
any exception a command raises; a resource fault becomes ``Error: <what ran out> …`` instead of
a traceback. The stores stay consistent on such faults (writes are transactional or go through a
temporary file and a rename); only the message changes.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Mapping
from typing import Final, NamedTuple


class Fault(NamedTuple):
    """What ran out, and what the program was doing with the path when it did."""

    what: str
    action: str


FAULT_BY_ERRNO: Final[Mapping[int, Fault]] = {
    errno.ENOSPC: Fault("disk full", "writing"),
    errno.EDQUOT: Fault("disk quota exceeded", "writing"),
    errno.EMFILE: Fault("too many open files", "opening"),
    errno.ENFILE: Fault("too many open files", "opening"),
    errno.EROFS: Fault("read-only file system", "writing"),
    errno.EACCES: Fault("permission denied", "accessing"),
    errno.EPERM: Fault("permission denied", "accessing"),
}
"""The one table of resource faults; EACCES/EPERM count only when the error names a path."""

PATH_ONLY_ERRNOS: Final = frozenset({errno.EACCES, errno.EPERM})
SQLITE_FULL_MESSAGE: Final = "database or disk is full"

JAVA_FAULT_BY_MESSAGE: Final[Mapping[str, Fault]] = {
    "No space left on device": Fault("disk full", "writing"),
    "Disk quota exceeded": Fault("disk quota exceeded", "writing"),
    "Too many open files": Fault("too many open files", "opening"),
    "Read-only file system": Fault("read-only file system", "writing"),
}
"""The JVM's (Hail, Spark, Hadoop) words for the same faults: its ``IOException`` carries the
C library's message but no errno, and Hail raises it inside a ``FatalError`` of ~270 lines."""
JAVA_OUT_OF_MEMORY: Final = "java.lang.OutOfMemoryError"
JAVA_EXCEPTION_TYPES: Final = frozenset({"FatalError", "Py4JJavaError", "Py4JError"})


def describe_fault(exc: BaseException) -> str | None:
    """One line naming what ran out and where, or ``None`` if ``exc`` is no resource fault.

    Examples
    --------
    >>> describe_fault(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/register.csv"))
    'disk full while writing /data/register.csv (no space left on device)'
    >>> describe_fault(OSError(errno.EMFILE, os.strerror(errno.EMFILE)))
    'too many open files (too many open files)'
    >>> describe_fault(OSError(errno.EACCES, os.strerror(errno.EACCES))) is None  # no path
    True
    >>> describe_fault(sqlite3.OperationalError("database or disk is full"))
    'disk full while writing a database (database or disk is full)'
    >>> describe_fault(MemoryError())
    'out of memory'
    >>> describe_fault(ValueError("bad input")) is None
    True
    """
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OSError):
        return _describe_os_error(exc)
    if type(exc).__name__ in JAVA_EXCEPTION_TYPES:
        return _describe_java_error(str(exc))
    # SQLAlchemy wraps the driver's error in ``orig``; sqlite3 raises it directly.
    driver_error = getattr(exc, "orig", exc)
    if (isinstance(driver_error, sqlite3.OperationalError)
            and SQLITE_FULL_MESSAGE in str(driver_error)):
        return f"disk full while writing a database ({SQLITE_FULL_MESSAGE})"
    return None


def _describe_os_error(exc: OSError) -> str | None:
    fault = FAULT_BY_ERRNO.get(exc.errno) if exc.errno is not None else None
    if fault is None:
        return None
    filename = os.fsdecode(exc.filename) if exc.filename is not None else None
    if filename is None and exc.errno in PATH_ONLY_ERRNOS:
        return None  # a permission error on no path is a process/role matter, not a resource
    reason = (exc.strerror or os.strerror(exc.errno or 0)).lower()
    where = f" while {fault.action} {filename}" if filename else ""
    return f"{fault.what}{where} ({reason})"


def _describe_java_error(text: str) -> str | None:
    """The fault a JVM error's text names (Hail/Spark write on a full disk), or ``None``.

    >>> _describe_java_error("Error summary: IOException: No space left on device")
    'disk full while Hail/Spark was writing (java.io.IOException: No space left on device)'
    >>> _describe_java_error("Error summary: HailException: invalid locus") is None
    True
    """
    if JAVA_OUT_OF_MEMORY in text:
        return f"out of memory in Hail/Spark's JVM ({JAVA_OUT_OF_MEMORY})"
    for message, fault in JAVA_FAULT_BY_MESSAGE.items():
        if message in text:
            return (f"{fault.what} while Hail/Spark was {fault.action} "
                    f"(java.io.IOException: {message})")
    return None
