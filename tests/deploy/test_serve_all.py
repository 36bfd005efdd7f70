"""``genomlab serve all``: every service of the home as local processes, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import psutil
import pytest

from genomlab.config import GenomlabConfig
from genomlab.deploy.launch import get_service_instances
from genomlab.deploy.system import get_process_uids
from genomlab.institution import Institution
from genomlab.services.process import _stop
from genomlab.services.runner import get_service_record_path
from genomlab.trusted_keys import compute_fingerprint
from tests.conftest import REPO, config_for

GENOMLAB = str(Path(sys.executable).parent / "genomlab")
READY = re.compile(r"^all (\d+) services ready in ([0-9.]+) s")


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put("")  # end of output

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_get_service_instances__follows_the_kinds_serve_offers(
        config: GenomlabConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    Institution(config, "grz", "GRZK00001").directory.mkdir(parents=True)
    assert [i.name for i in get_service_instances(config)] == [
        "platform", "trust_center", "data_service", "airlock", "grz:GRZK00001"]
    monkeypatch.setattr("genomlab.deploy.launch.SERVICE_KINDS", ("platform",))
    assert [i.name for i in get_service_instances(config)] == ["platform"]
    monkeypatch.setattr("genomlab.deploy.launch.SERVICE_KINDS", ("platform", "trust_center",
                                                                 "grz"))
    assert [i.name for i in get_service_instances(config)] == [
        "platform", "trust_center", "grz:GRZK00001"]


def test_serve_all__every_service_answers_and_sigterm_stops_them(tmp_path: Path) -> None:
    """Also the demo's application step on the running set (it shares this start-up): the
    platform's people and approval key made before the start, the application through the
    platform service with each person's own credentials file."""
    from genomlab.demo import DemoContext, step_application, step_platform_people

    config = config_for(tmp_path / "home")
    demo = DemoContext(config, None, use_hail=False, echo=lambda _: None)
    step_platform_people(demo)
    instances = get_service_instances(config)
    env = {**os.environ, "GENOMLAB_HOME": str(config.home), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([GENOMLAB, "serve", "all"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = _lines(process)
    output: list[str] = []
    try:
        while not (output and READY.match(output[-1])):
            line = lines.get(timeout=120)
            assert line or process.poll() is None, "\n".join(output)
            output.append(line)
        ready = READY.match(output[-1])
        assert ready is not None
        assert int(ready.group(1)) == len(instances)
        print(f"serve all: {ready.group(1)} service(s) ready in {ready.group(2)} s")
        token_key = compute_fingerprint(Institution(config, "platform").keys().public_key("oauth"))
        holders = [i.name for i in instances if i.kind != "platform"]
        assert holders
        for name in holders:  # each service checked its token key against this at its start
            assert f"platform's oauth key {token_key} anchored in {name}" in output, output
        approval_key = compute_fingerprint(
            Institution(config, "platform").keys().public_key("approval"))
        assert f"platform's approval key {approval_key} anchored in trust_center" in output
        demo.serving = True
        step_application(demo)
        assert demo.figures["application workflow"].startswith("through the platform service")
        ledger = Institution(config, "platform").ledger()
        assert [(e.type, e.actor) for e in ledger.events() if e.type in (
            "application.submitted", "application.vote_recorded", "application.approved")] == [
            ("application.submitted", "alice"), ("application.vote_recorded", "kurt"),
            ("application.approved", "dora")]
        pids = []
        for institution in instances:
            record = json.loads(get_service_record_path(config, institution).read_text())
            assert record["url"].startswith("https://127.0.0.1:")
            assert get_process_uids(record["pid"]) == (os.getuid(),) * 4
            context = ssl.create_default_context(cafile=record["ca"])
            with urllib.request.urlopen(record["url"] + "/healthz", context=context,
                                        timeout=10) as answer:
                assert answer.status == 200
            pids.append(record["pid"])
        # each service its own process, forked from one fork server that serve all started
        # (genomlab.services.forked): none is serve all itself or a child of it
        parents = {psutil.Process(pid).ppid() for pid in pids}
        assert len(set(pids)) == len(instances)
        assert len(parents) == 1
        assert psutil.Process(parents.pop()).ppid() == process.pid
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not [p for p in pids if get_process_uids(p) is not None]
        assert not [i for i in instances if get_service_record_path(config, i).exists()]
    finally:
        if process.poll() is None:  # SIGTERM first: serve all stops its services, else orphans
            _stop(process, timeout=60)  # type: ignore[arg-type]
        while not lines.empty():
            output.append(lines.get())
        print("\n".join(output))


LAUNCHER = """
import sys, threading
from pathlib import Path
from genomlab.config import load_config
from genomlab.services.process import running_service

config = load_config()
with running_service(config, "platform", log=Path(sys.argv[1])) as service:
    print(service.process.pid, flush=True)
    threading.Event().wait()
"""


@pytest.mark.sigkill
def test_start_forked_service__launcher_killed_its_service_stops(tmp_path: Path) -> None:
    """A launcher killed with SIGKILL cannot stop its services: the fork server ends with it
    and the kernel sends each service SIGTERM, so none is left running or recorded."""
    config = config_for(tmp_path / "home")
    env = {**os.environ, "GENOMLAB_HOME": str(config.home), "PYTHONPATH": str(REPO)}
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path / "svc.log")],
                                env=env, stdout=subprocess.PIPE, text=True)
    service = None
    try:
        assert launcher.stdout is not None
        service = psutil.Process(int(launcher.stdout.readline()))
        record = get_service_record_path(config, Institution(config, "platform"))
        assert record.exists()
        assert psutil.Process(service.ppid()).ppid() == launcher.pid  # forked by the fork server
        launcher.kill()
        launcher.wait(timeout=30)
        service.wait(timeout=60)  # psutil.TimeoutExpired if it goes on running
        assert not record.exists()  # stopped as on SIGTERM: its record removed
    finally:
        if launcher.poll() is None:
            launcher.kill()
        if service is not None and service.is_running():  # the failure's orphan
            service.kill()
