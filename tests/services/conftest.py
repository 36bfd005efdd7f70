"""One platform service per test module: a real ``genomlab serve platform`` subprocess.

``platform_service`` starts the service on 127.0.0.1 (a free port, read from the record the
service writes into its home), waits until ``/healthz`` answers over TLS, hands the tests its URL,
CA file and the home's configuration, and stops the process at the end of the module. Tests set
up nodes and clients through the same service functions the CLI calls, in the same home.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, inspect, select, table

from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import IssuedClient, issue_client
from tests.conftest import REPO, config_for

STARTUP_SECONDS = 90  # the 2-core CI machine is shared; the service itself starts in a few s


@dataclass(frozen=True)
class RunningService:
    """A service process and what a client needs to reach it."""

    url: str
    ca: Path
    config: GenomlabConfig
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        """An HTTPS client that trusts only the service's CA."""
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(
            cafile=str(self.ca)), timeout=30)


def _wait_until_ready(process: subprocess.Popen[bytes], record: Path, log: Path) -> dict:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited with {process.returncode}: {log.read_text()[-2000:]}")
        if record.exists():
            info = json.loads(record.read_text())
            if info["pid"] == process.pid:
                context = ssl.create_default_context(cafile=info["ca"])
                try:
                    if httpx.get(info["url"] + "/healthz", verify=context).status_code == 200:
                        return info
                except httpx.TransportError:
                    pass
        time.sleep(0.2)
    pytest.fail(f"service not ready after {STARTUP_SECONDS} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def platform_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    base = tmp_path_factory.mktemp("platform-service")
    config = config_for(base / "home")
    log = base / "service.log"
    env = {**os.environ, "GENOMLAB_HOME": str(config.home), "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "genomlab.cli", "serve", "platform", "--port", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        info = _wait_until_ready(process, config.home / "services" / "platform.json", log)
        yield RunningService(info["url"], Path(info["ca"]), config, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def approved_node_client(config: GenomlabConfig, node_id: str) -> IssuedClient:
    """Register and approve ``node_id`` and issue its OAuth client (what the CLI does)."""
    NodeRegistry(config).ensure_approved(node_id, name=f"{node_id} test node", actor="bfarm-op")
    return issue_client(config, node_id, actor="bfarm-op")


def platform_state(config: GenomlabConfig) -> dict[str, int]:
    """Row count of every platform table (ledger included): what "nothing changed" compares."""
    engine = Institution(config, "platform").engine()
    with engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in sorted(inspect(engine).get_table_names())}


def platform_ledger_report(config: GenomlabConfig) -> str:
    """The platform ledger's full verification, as ``genomlab ledger verify --full`` prints it."""
    return str(Institution(config, "platform").ledger().verify(full=True))
