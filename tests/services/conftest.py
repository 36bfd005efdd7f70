"""One platform service per test module: a real ``genomlab serve platform`` subprocess.

``platform_service`` starts the service on 127.0.0.1 (a free port, read from the record the
service writes into its home), waits until ``/healthz`` answers over TLS, hands the tests its URL,
CA file and the home's configuration, and stops the process at the end of the module. Tests set
up nodes and clients through the same service functions the CLI calls, in the same home.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from genomlab.config import GenomlabConfig
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import IssuedClient, issue_client
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.services.people import ledger_report, store_state


@dataclass(frozen=True)
class RunningService:
    """A service process and what a client needs to reach it."""

    url: str
    ca: Path
    config: GenomlabConfig

    def client(self) -> httpx.Client:
        """An HTTPS client that trusts only the service's CA."""
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(
            cafile=str(self.ca)), timeout=30)


@pytest.fixture(scope="module")
def platform_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    base = tmp_path_factory.mktemp("platform-service")
    config = config_for(base / "home")
    with running_service(config, "platform", log=base / "service.log",
                         env={"PYTHONPATH": str(REPO)}) as service:
        yield RunningService(service.url, service.ca, config)


def approved_node_client(config: GenomlabConfig, node_id: str) -> IssuedClient:
    """Register and approve ``node_id`` and issue its OAuth client (what the CLI does)."""
    NodeRegistry(config).ensure_approved(node_id, name=f"{node_id} test node", actor="bfarm-op")
    return issue_client(config, node_id, actor="bfarm-op")


def platform_state(config: GenomlabConfig) -> dict[str, int]:
    """Row count of every platform table (ledger included): what "nothing changed" compares."""
    return store_state(config, "platform")


def platform_ledger_report(config: GenomlabConfig) -> str:
    """The platform ledger's full verification, as ``genomlab ledger verify --full`` prints it."""
    return ledger_report(config, "platform")


def make_pruefbericht(node_id: str, tan_seed: str) -> dict:
    """A BfArM Prüfbericht of ``node_id`` with a TAN of its own (64 hex digits)."""
    return {"SubmittedCase": {
        "submissionDate": "2024-10-01", "submissionType": "initial",
        "tan": hashlib.sha256(tan_seed.encode()).hexdigest().upper(),
        "submitterId": "260914050", "dataNodeId": node_id, "diseaseType": "oncological",
        "dataCategory": "genomic" if node_id.startswith("GRZ") else "clinical",
        "libraryType": "wes", "coverageType": "GKV", "dataQualityCheckPassed": True}}
