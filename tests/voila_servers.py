"""One Voila server per test module: started by a module-scoped fixture, stopped after it.

A server may serve the whole ``notebooks/`` folder (one server for several dashboards, at
``/voila/render/<name>.ipynb``) or one notebook; the signed-in user is the verified
person of the server's ``GENOMLAB_CREDENTIALS`` (issue 15).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genomlab.dashboards.first_screen import get_voila_command, get_voila_environment
from tests.conftest import NOTEBOOKS, free_port, wait_for_http


@contextmanager
def serve_voila(workdir: Path, env: dict[str, str], *, notebook: str | None = None,
                timeout: float = 90) -> Iterator[str]:
    """The URL of a Voila server for ``notebook`` (or every notebook); stopped on exit."""
    port = free_port()
    log_path = workdir / f"voila-{port}.log"
    target = NOTEBOOKS / notebook if notebook else NOTEBOOKS
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            get_voila_command(target, port, "--show_tracebacks=True"),
            env=get_voila_environment({**os.environ, **env}), stdout=log,
            stderr=subprocess.STDOUT, cwd=workdir)
        try:
            yield wait_for_http(f"http://127.0.0.1:{port}/", timeout=timeout, process=proc,
                                log=log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def render_url(base: str, notebook: str) -> str:
    """A notebook's page on a server of the whole folder."""
    return f"{base.rstrip('/')}/voila/render/{notebook}"
