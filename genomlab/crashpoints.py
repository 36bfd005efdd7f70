"""A test hook: kill this process (SIGKILL) at a named point, to test crash recovery.

Long operations call :func:`crashpoint` at the points where a crash would leave the most behind
(a staging folder written but not renamed, a folder renamed but its ledger event not yet
appended, ...). Unless ``GL_CRASHPOINT`` names that point (not ``GENOMLAB_*``: the
configuration would read it as a key), the call does nothing. When it does, the process kills
itself with SIGKILL: no ``finally`` block, no ``atexit`` handler and no shutdown hook runs,
exactly as after ``kill -9``, an OOM kill or a power cut.
``tests/crash/test_sigkill_sweep.py`` uses it to kill intake, release, QC and the airlock and
checks that a rerun completes with nothing lost, duplicated or left behind.

Names are ``<operation>.<point>``, e.g. ``release.staged``. Production never sets the variable.
"""

from __future__ import annotations

import os
import signal

CRASHPOINT_ENV = "GL_CRASHPOINT"


def crashpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``$GL_CRASHPOINT`` is ``name``; else do nothing.

    Examples
    --------
    >>> crashpoint("release.staged")  # the variable is not set: nothing happens
    """
    if os.environ.get(CRASHPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
