"""Start a ``genomlab serve`` subprocess, wait until it answers, stop it at the end.

What the tests, the benchmark and (next) ``make demo`` use to run an institution instance as the
separate process it is in a deployment.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError
from genomlab.institution import Institution
from genomlab.services.runner import get_serve_arguments, get_service_record_path


class ServiceProcessHandle(Protocol):
    """What stopping and watching a service process needs: a :class:`subprocess.Popen`, or a
    :class:`genomlab.services.forked.ForkedService`."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


@dataclass(frozen=True)
class ServiceProcess:
    """A running service: its URL, the CA its certificate chains to, the process and its log."""

    name: str
    url: str
    ca: Path
    process: ServiceProcessHandle
    log: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context that trusts only this service's CA."""
        return ssl.create_default_context(cafile=str(self.ca))


def _pause(seconds: float) -> None:
    """Wait ``seconds`` (an Event wait: ``time.sleep`` fails under libfaketime, which CI uses)."""
    threading.Event().wait(seconds)


def _stop(process: ServiceProcessHandle, timeout: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL if the process has not ended after ``timeout`` seconds; whether
    it had to be killed."""
    process.terminate()
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        _pause(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
        return True
    return False


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", context=context, timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_ready(process: ServiceProcessHandle, record: Path, log: Path,
                      timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GenomlabError(f"service exited with {process.returncode}: "
                                f"{log.read_text(errors='replace')[-2000:]}")
        if record.exists():
            info = json.loads(record.read_text())
            if info["pid"] == process.pid and _answers(
                    info["url"], ssl.create_default_context(cafile=info["ca"])):
                return dict(info)
        _pause(0.1)
    raise GenomlabError(f"service not ready after {timeout:.0f} s: "
                        f"{log.read_text(errors='replace')[-2000:]}")


@contextmanager
def running_service(config: GenomlabConfig, kind: str, node_id: str | None = None, *,
                    log: Path, env: Mapping[str, str] | None = None,
                    startup_timeout: float = 90.0) -> Iterator[ServiceProcess]:
    """Run ``genomlab serve KIND`` on a free loopback port for the duration of the block.

    Forked from the services' fork server (:mod:`genomlab.services.forked`), as ``genomlab
    serve all`` does, unless ``services.fork_server`` is false in ``config``: then a fresh
    process.

    The child gets this process's environment, ``GENOMLAB_HOME`` of ``config`` and ``env``.
    Like ``genomlab serve all``, it first anchors the platform's trusted keys in every
    institution of the home that has none (:func:`genomlab.anchors.anchor_trusted_keys`; the
    instance's folder is made first, so it is one of them): a service refuses to start on a
    key never anchored in its ledger.
    """
    from genomlab.anchors import anchor_trusted_keys

    institution = Institution(config, kind, node_id)  # type: ignore[arg-type]
    institution.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    anchor_trusted_keys(config)
    arguments = get_serve_arguments(kind, node_id)
    child_env = {**os.environ, "GENOMLAB_HOME": str(config.home), **(env or {})}
    process: ServiceProcessHandle
    if config.services.fork_server:  # as serve all: forked from the services' fork server
        from genomlab.services.forked import start_forked_service

        log.write_bytes(b"")
        process = start_forked_service(arguments, environ=child_env, log=log)
    else:
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "genomlab.cli", *arguments],
                                       env=child_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        info = _wait_until_ready(process, get_service_record_path(config, institution), log,
                                 startup_timeout)
        yield ServiceProcess(institution.name, info["url"], Path(info["ca"]), process, log)
    finally:
        _stop(process)
