"""SIGKILL the platform service mid-request, restart it, retry: no event lost or duplicated.

The service is killed (``GL_CRASHPOINT``, :mod:`genomlab.crashpoints`: SIGKILL, no clean-up runs)
at the two places where an upload can die: inside the ledger transaction after the event is
appended but before the commit, and after the commit before the answer is sent. The client sees
the connection drop, as it would after an OOM kill or a power cut; it retries the same
Prüfbericht once the service is back (as ``grzctl`` retries), and the platform holds exactly one
confirmation of that TAN, the ledger verifies, and a committed confirmation keeps its id.

Each crash needs a process of its own, so this module starts its services itself (in one home).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from genomlab.platform.confirmations import tan_hash
from genomlab.platform.node_projection import confirmations_table
from genomlab.platform.store import read_platform
from genomlab.services.process import ServiceProcess, running_service
from tests.conftest import REPO, config_for
from tests.services.conftest import (
    RunningService,
    approved_node_client,
    make_pruefbericht,
    platform_ledger_report,
)

TOKEN = "/oauth2/token"
UPLOAD = "/api/pruefbericht/upload"


def _token_and_upload(service: RunningService, client_id: str, secret: str,
                      report: dict) -> httpx.Response:
    with service.client() as http:
        token = http.post(TOKEN, data={"grant_type": "client_credentials",
                                       "client_id": client_id, "client_secret": secret})
        assert token.status_code == 200, token.text
        return http.post(UPLOAD, json=report,
                         headers={"Authorization": f"bearer {token.json()['access_token']}"})


def _confirmations_of(config, tan: str) -> list[str]:
    with read_platform(config) as conn:
        return [row.confirmation_id for row in conn.execute(
            select(confirmations_table).where(confirmations_table.c.tan_hash == tan_hash(tan)))]


def _as_running(service: ServiceProcess, config) -> RunningService:
    return RunningService(service.url, service.ca, config)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["pruefbericht.appended", "pruefbericht.committed"])
def test_platform_service__killed_mid_upload_retry_records_once(tmp_path: Path,
                                                                point: str) -> None:
    config = config_for(tmp_path / "home")
    node_id = "GRZK00007"
    client = approved_node_client(config, node_id)
    report = make_pruefbericht(node_id, f"crash-{point}")
    tan = report["SubmittedCase"]["tan"]
    env = {"PYTHONPATH": str(REPO)}

    with running_service(config, "platform", log=tmp_path / "killed.log",
                         env={**env, "GL_CRASHPOINT": point}) as doomed:
        with pytest.raises(httpx.TransportError):
            _token_and_upload(_as_running(doomed, config), client.client_id,
                              client.client_secret, report)
        assert doomed.process.wait(timeout=30) == -9, "the service was not killed at " + point
    recorded = _confirmations_of(config, tan)
    assert len(recorded) == (1 if point == "pruefbericht.committed" else 0), recorded

    with running_service(config, "platform", log=tmp_path / "restarted.log",
                         env=env) as restarted:
        answer = _token_and_upload(_as_running(restarted, config), client.client_id,
                                   client.client_secret, report)
        again = _token_and_upload(_as_running(restarted, config), client.client_id,
                                  client.client_secret, report)
    assert answer.status_code == 200, answer.text
    assert again.json() == answer.json()  # a retry after success changes nothing either
    after = _confirmations_of(config, tan)
    assert len(after) == 1, after
    assert recorded in ([], after), "a committed confirmation kept its id on the retry"
    assert after[0] in answer.text  # the signed Meldebestätigung names the recorded id
    assert platform_ledger_report(config).startswith("ok")
