"""Warm kernels for dashboard visits in a Jupyter server (``WarmKernelManager``), without the hub:
a real ``jupyter server`` with Voila's extension on loopback, visited over HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.conftest import REPO, free_port

# notebook: real kernels run a notebook (Voila's render); like the other kernel tests not in the
# shifted-clock pass, where libfaketime makes ipykernel's time.sleep fail with EINVAL
pytestmark = [pytest.mark.slow, pytest.mark.notebook]
TOKEN = "pool-test-token"
Server = tuple[str, Path, "subprocess.Popen[bytes]"]
PROBE = """import os, sys
print("VISIT", os.environ.get("QUERY_STRING", "-"), os.getcwd(), os.getpid(),
      "genomlab.dashboards.approvals" in sys.modules,
      sorted(k for k in globals() if k.startswith("_genomlab")), sep="|")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("pool-root")
    (root / "dashboards").mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(PROBE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, root / "dashboards" / "probe.ipynb")
    port, log = free_port(), root.parent / "server.log"
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
               "--ServerApp.kernel_manager_class="
               "genomlab.dashboards.kernel_pool.WarmKernelManager",
               "--WarmKernelManager.fill_delay=0"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        _wait_for_warm_kernel(log, process, count=1)
        yield f"http://127.0.0.1:{port}", log, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_warm_kernel(log: Path, process: subprocess.Popen[bytes], count: int) -> None:
    deadline = time.monotonic() + 120
    while log.read_text().count("ready for dashboards") < count:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


def _visit(url: str, query: str) -> list[str]:
    answer = httpx.get(f"{url}/voila/render/dashboards/probe.ipynb?token={TOKEN}&{query}",
                       timeout=120)
    assert answer.status_code == 200, answer.text[:2000]
    [line] = re.findall(r"VISIT\|([^\\<]*)", answer.text)
    return [part.strip() for part in line.split("|")]


def test_warm_kernel_manager__a_visit_gets_a_warm_kernel_bound_to_its_request(
    server: Server
) -> None:
    url, log, process = server
    query, cwd, pid, warm, names = _visit(url, "who=first")
    assert query == "token=pool-test-token&amp;who=first"  # this visit's own request
    assert cwd.endswith("/dashboards")  # the notebook's folder, as for a fresh kernel
    assert warm == "True"  # imported before the visit: a warm kernel
    assert names == "[]"  # the warm-up and the binding left no name behind
    assert "dashboard visit uses warm kernel" in log.read_text()
    # the next visit: another warm kernel (a warm kernel serves one visit only)
    _wait_for_warm_kernel(log, process, count=2)
    query2, _, pid2, warm2, _ = _visit(url, "who=second")
    assert query2.endswith("who=second")
    assert "first" not in query2
    assert warm2 == "True"
    assert pid2 != pid


def test_warm_kernel_manager__fresh_query_and_kernels_api_start_fresh_kernels(
    server: Server
) -> None:
    url, _, _ = server
    query, _, _, warm, _ = _visit(url, "genomlab-kernel=fresh")
    assert query.endswith("genomlab-kernel=fresh")
    assert warm == "False"  # the way before the pool: nothing imported before the visit
    headers = {"Authorization": f"token {TOKEN}"}
    before = {k["id"] for k in httpx.get(f"{url}/api/kernels", headers=headers).json()}
    started = httpx.post(f"{url}/api/kernels", headers=headers, json={"name": "python3"},
                         timeout=60)
    assert started.status_code == 201, started.text
    assert started.json()["id"] not in before  # not a warm kernel of the pool
    httpx.delete(f"{url}/api/kernels/{started.json()['id']}", headers=headers, timeout=60)
