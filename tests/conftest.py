"""Shared fixtures: a fresh home per test, one Hail session, papermill, Voila and headless Chromium.

- ``config``: a :class:`GenomlabConfig` whose home is a fresh temporary folder.
- ``hl``: Hail started once per session (``local[2]``, driver on 127.0.0.1, UI off, quiet,
  ``min_block_size=0``) through :func:`genomlab.hail_session.init_hail`, stopped at the end.
- ``run_notebook``: executes a notebook under papermill with parameters; returns the output path.
- ``voila``: serves a notebook with Voila on 127.0.0.1 and returns its URL.
- ``page``: a Playwright page in Debian's Chromium (``/usr/bin/chromium``, no browser download).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig, load_config

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def config_for(home: Path, **env: str) -> GenomlabConfig:
    """A configuration with ``home`` and the given ``GENOMLAB_*`` overrides (not the caller's)."""
    return load_config(environ={"GENOMLAB_HOME": str(home), **env})


@pytest.fixture
def config(tmp_path: Path) -> GenomlabConfig:
    return config_for(tmp_path / "home")


@pytest.fixture(scope="session")
def hl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from genomlab.hail_session import init_hail, stop_hail

    home = tmp_path_factory.mktemp("hail-home")
    hail = init_hail(config_for(home, GENOMLAB_SPARK__DRIVER_MEMORY="6g"), master="local[2]")
    yield hail
    stop_hail()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config_file(config: GenomlabConfig, path: Path) -> Path:
    """A ``genomlab.toml`` for subprocesses (kernels, Voila) that points at ``config``'s home."""
    path.write_text(f'home = "{config.home}"\nlocal_user = "{config.local_user}"\n')
    return path


@pytest.fixture
def run_notebook(tmp_path: Path) -> Callable[..., Path]:
    import papermill

    def run(name: str, **parameters: Any) -> Path:
        out = tmp_path / f"out-{name}"
        papermill.execute_notebook(
            str(NOTEBOOKS / name), str(out), parameters=parameters, kernel_name="python3",
            cwd=str(tmp_path), progress_bar=False, execution_timeout=600,
        )
        return out

    return run


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[Callable[..., str]]:
    servers: list[subprocess.Popen[bytes]] = []

    def serve(notebook: str, env: dict[str, str] | None = None, timeout: float = 90) -> str:
        port = free_port()
        log = (tmp_path / f"voila-{port}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", str(NOTEBOOKS / notebook), f"--port={port}",
             "--no-browser", "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
            env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        servers.append(proc)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited: {(tmp_path / f'voila-{port}.log').read_text()}")
            try:
                urllib.request.urlopen(url, timeout=5)
                return url
            except urllib.error.HTTPError:
                return url  # it answers: up (the page itself is checked by the test)
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"voila did not start on {url}")

    yield serve
    for proc in servers:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
