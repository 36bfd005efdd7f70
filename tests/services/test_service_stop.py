"""SIGTERM stops a service at once, even while a client keeps an idle connection to it open."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from genomlab.institution import Institution
from genomlab.services.process import running_service
from genomlab.services.runner import get_service_record_path
from tests.conftest import REPO, config_for


def test_stop__idle_keep_alive_client_does_not_hold_the_service(tmp_path: Path) -> None:
    """A client's kept-alive pool (another service's, a test's) does not read until its next
    request, so it never answers the TLS ``close_notify`` of a polite close: the service waited
    30 s for it and ``running_service`` killed it after 20 (a test module's 20 s teardown).
    Stopped by SIGTERM itself, in well under a second, its record removed."""
    config = config_for(tmp_path / "home")
    record = get_service_record_path(config, Institution(config, "platform"))
    with (running_service(config, "platform", log=tmp_path / "platform.log",
                          env={"PYTHONPATH": str(REPO)}) as service,
          httpx.Client(base_url=service.url, verify=service.ssl_context()) as http):
        assert http.get("/healthz").status_code == 200  # the pool keeps the connection, idle
        assert record.exists()
        started = time.monotonic()
        service.process.terminate()
        service.process.wait(timeout=10)
        seconds = time.monotonic() - started
    assert service.process.returncode == -signal.SIGTERM  # ended by SIGTERM, not killed
    assert seconds < 5, f"the service took {seconds:.1f} s to stop"
    assert not record.exists()  # its shutdown ran to the end
