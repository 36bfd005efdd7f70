"""Start services as children of one process that imported their code once (a fork server).

A fresh ``genomlab serve KIND`` process spends 1.2–1.5 s of CPU importing FastAPI, uvicorn,
SQLAlchemy and genomlab's service modules before it opens anything; eleven of them on two
cores made ``genomlab serve all`` take 13–17 s on a quiet machine. Here the standard library's
fork server (:mod:`multiprocessing`, start method ``forkserver``) imports
:data:`PRELOADED_MODULES` once, then forks one child per service. Each child starts from that
single-threaded, import-only process (nothing opened: no store, key, socket or thread), takes
the service's own environment, umask and log file and runs the ``genomlab serve`` command line
as the console script would (configuration, errors and exit status alike). So every service is
still its own process with its own store and keys; only the import work is shared.

This is the embedded default's path (``genomlab serve all``, ``make demo``: every service under
the starting account). A separated deployment starts each service as its own account with
``setpriv`` (:func:`genomlab.deploy.launch.get_account_command`), a fresh interpreter per account.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PRELOADED_MODULES = (
    "genomlab.cli",
    "genomlab.services.cli",
    "genomlab.services.runner",
    "genomlab.services.platform_api",
    "genomlab.services.trust_center_api",
    "genomlab.services.data_service_api",
    "genomlab.services.airlock_api",
    "genomlab.services.node_api",
    "genomlab.clinical_node.intake",
    "uvicorn",
)
"""What the fork server imports before its first fork: the ``genomlab serve`` command, every
app factory's module of :data:`genomlab.services.runner.APP_FACTORIES` and what they import
at app creation."""


def _get_context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, multiprocessing.context.ForkServerContext)
    context.set_forkserver_preload(list(PRELOADED_MODULES))
    return context


PR_SET_PDEATHSIG = 1
"""``prctl`` option (``<linux/prctl.h>``): the signal the kernel sends when the parent ends."""


def _end_with_fork_server() -> None:
    """Have the kernel send this process SIGTERM when its parent, the fork server, ends.

    The fork server ends when every holder of the write end of its "alive" pipe has ended
    (it reads EOF): the process that started it, and every child, which inherits a copy. A
    service never starts processes through the fork server, so it closes its copy here: then
    the fork server ends with the starting process, also when that one is killed, and the
    kernel stops its services. Without this they went on running orphaned, holding their ports
    and records. SIGTERM is the service's normal stop (uvicorn finishes, the record is
    removed). A fork server gone before the ``prctl`` (a window of microseconds) is seen by the
    changed parent id. Linux only; elsewhere nothing is done.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    from multiprocessing import forkserver

    server = forkserver._forkserver  # the child's view, filled in by the fork server
    alive = getattr(server, "_forkserver_alive_fd", None)  # CPython's name (3.8 to 3.13)
    if alive is not None:
        os.close(alive)
        setattr(server, "_forkserver_alive_fd", None)  # noqa: B010 (typeshed does not declare it)
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _serve_in_child(arguments: list[str], environ: dict[str, str], log: str) -> None:
    """The child's work (after the fork): end with the fork server, take the service's log,
    umask and environment, then run ``genomlab ARGUMENTS`` (``serve KIND ...``) as the console
    script would, its errors and exit status included."""
    _end_with_fork_server()
    os.umask(0o077)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(environ)
    sys.argv = ["genomlab", *arguments]
    from genomlab.cli import main

    main(args=arguments, prog_name="genomlab")


class ForkedService:
    """A service process forked by the fork server, with the part of
    :class:`subprocess.Popen`'s interface the launcher uses (``pid``, ``returncode``,
    ``poll``, ``wait``, ``terminate``, ``kill``)."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        """The exit code (``-N`` for signal ``N``) once ended, else ``None``; never blocks."""
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the process ended; :class:`subprocess.TimeoutExpired` after
        ``timeout`` seconds. Polls with event waits: a timed wait of the process fails under
        libfaketime (:func:`genomlab.services.process._pause`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self._process.exitcode) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self._process.name, timeout or 0.0)
            threading.Event().wait(0.02)
        return code

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


def start_forked_service(arguments: Sequence[str], *, environ: Mapping[str, str],
                         log: Path) -> ForkedService:
    """Fork ``genomlab ARGUMENTS`` (``serve KIND [--node ID] ...``) from the fork server, its
    output appended to ``log`` and its environment exactly ``environ``.

    The fork server starts on the first call of this process (it imports
    :data:`PRELOADED_MODULES`, about 1.5 s) and serves every later call. The child is daemonic:
    if the starting process ends without stopping it, :mod:`multiprocessing` terminates it;
    if the starting process is killed, the fork server ends and the kernel sends the child
    SIGTERM (:func:`_end_with_fork_server`).
    """
    process = _get_context().Process(
        target=_serve_in_child, args=(list(arguments), dict(environ), str(log)),
        name="genomlab " + " ".join(arguments), daemon=True)
    process.start()
    return ForkedService(process)
