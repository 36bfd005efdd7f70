"""``genomlab dashboards``: the list matches the notebooks; unknown names and a failing Voila
end with an error; SIGTERM stops Voila and its kernels."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.dashboards.cli import NOTEBOOKS, available_dashboards
from tests.conftest import REPO, free_port, wait_for_http


def test_dashboards_list__names_existing_notebooks_only() -> None:
    result = CliRunner().invoke(main, ["dashboards", "list", "--format", "json"])
    assert result.exit_code == 0
    listed = [row["name"] for row in json.loads(result.output)]
    assert listed == list(available_dashboards())
    assert "ledger_health" in listed
    assert all((NOTEBOOKS / f"{name}.ipynb").is_file() for name in listed)


def test_dashboards_serve__unknown_name_is_one_line_error() -> None:
    result = CliRunner().invoke(main, ["dashboards", "serve", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no dashboard 'nope'; choose from ledger_health")


def test_dashboards_serve__exits_1_when_voila_fails(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["dashboards", "serve", "ledger_health", "--port", str(port), "--pool-size", "0"],
            env={"GENOMLAB_HOME": str(tmp_path / "home")})
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == (
        f"Error: voila stopped with exit status 1 while serving ledger_health on port {port} "
        "(its log is above)")


def get_descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (Linux ``/proc``), kernels in their own session too."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def is_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.notebook
def test_dashboards_serve__sigterm_stops_voila_and_its_kernels(tmp_path: Path) -> None:
    """What systemd, Docker and ``kill`` send: nothing of the dashboard may stay behind."""
    port = free_port()
    env = {**os.environ, "GENOMLAB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "genomlab.cli", "dashboards", "serve", "ledger_health",
         "--port", str(port), "--pool-size", "1"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    below: set[int] = set()
    output = ""
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=120)
        deadline = time.monotonic() + 60
        while len(below := get_descendants(serve.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # Voila, then its preheated kernel
        assert len(below) >= 2, below
        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
        deadline = time.monotonic() + 10  # kernels may take a moment after Voila has ended
        while any(is_running(pid) for pid in below) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [pid for pid in below if is_running(pid)]
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)  # leave no orphan behind, even when the test fails
    assert serve.returncode == 0, output
    assert survivors == []
    assert output.splitlines()[-1] == "stopped ledger_health (SIGTERM)"
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # the port is free again
