"""Start services as children of one process that imported their code once (a fork server).

A fresh ``genomlab serve KIND`` process spends 1.2–1.5 s of CPU importing FastAPI, uvicorn,
SQLAlchemy and genomlab's service modules before it opens anything; eleven of them on two
cores made ``genomlab serve all`` take 13–17 s on a quiet machine. Here the standard library's
fork server (:mod:`multiprocessing`, start method ``forkserver``) imports
:data:`PRELOADED_MODULES` once, then forks one child per service. Each child starts from that
single-threaded, import-only process (nothing opened: no store, key, socket or thread), takes
the service's own environment, umask and log file, loads the configuration as ``genomlab
serve`` would and runs :func:`genomlab.services.runner.serve`. So every service is still its
own process with its own store and keys; only the import work is shared.

This is the embedded default's path (``genomlab serve all``, ``make demo``: every service under
the starting account). A separated deployment starts each service as its own account with
``setpriv`` (:func:`genomlab.deploy.launch.get_account_command`), a fresh interpreter per account.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import sys
from collections.abc import Mapping
from pathlib import Path

PRELOADED_MODULES = (
    "genomlab.config",
    "genomlab.services.runner",
    "genomlab.services.platform_api",
    "genomlab.services.trust_center_api",
    "genomlab.services.data_service_api",
    "genomlab.services.airlock_api",
    "genomlab.services.node_api",
    "genomlab.clinical_node.intake",
    "uvicorn",
)
"""What the fork server imports before its first fork: every app factory's module of
:data:`genomlab.services.runner.APP_FACTORIES` and what they import at app creation."""


def _get_context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, multiprocessing.context.ForkServerContext)
    context.set_forkserver_preload(list(PRELOADED_MODULES))
    return context


def _serve_in_child(kind: str, node_id: str | None, environ: dict[str, str], log: str) -> None:
    """The child's work: become the service's process, then serve (runs after the fork)."""
    os.umask(0o077)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(environ)
    from genomlab.config import ConfigError, load_config
    from genomlab.errors import GenomlabError
    from genomlab.services.runner import serve

    try:
        serve(load_config(), kind, node_id, host="127.0.0.1", port=0, announce=print)
    except (GenomlabError, ConfigError) as exc:  # as the CLI ends: one line, exit status 1
        print(f"Error: {exc}", flush=True)
        sys.exit(1)


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

    def wait(self) -> int:
        """Wait without a timeout (a timed wait fails under libfaketime, as in
        :func:`genomlab.services.process._pause`) and return the exit code."""
        self._process.join()
        code = self._process.exitcode
        assert code is not None
        return code

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


def start_forked_service(kind: str, node_id: str | None, *, environ: Mapping[str, str],
                         log: Path) -> ForkedService:
    """Fork the service ``kind`` (``node_id``) from the fork server, its output appended to
    ``log`` and its environment exactly ``environ``.

    The fork server starts on the first call of this process (it imports
    :data:`PRELOADED_MODULES`, about 1.5 s) and serves every later call. The child is daemonic:
    if the starting process ends without stopping it, :mod:`multiprocessing` terminates it.
    """
    process = _get_context().Process(
        target=_serve_in_child, args=(kind, node_id, dict(environ), str(log)),
        name=f"genomlab serve {kind}" + (f" --node {node_id}" if node_id else ""), daemon=True)
    process.start()
    return ForkedService(process)
