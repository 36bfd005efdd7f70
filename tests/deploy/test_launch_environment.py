"""A service started under its own account inherits the clock shift but not the starter's
libfaketime semaphore (the shifted-clock pass of ``make test`` runs every process under
libfaketime). CI's 2027 pass once failed because a service exited on ``sem_open`` of a root-only
semaphore; whether libfaketime hits that depends on which process of the chain opens the
semaphore first, so this test asserts what must hold (the shift reaches the account's
processes, no semaphore name is passed), not the failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from genomlab.deploy.launch import (
    PRELOAD_ENVIRONMENT,
    RunAs,
    get_account_command,
    get_service_environment,
)
from tests.conftest import config_for

NOBODY = 65534
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="switches accounts: needs root (CI runs as root)"),
    # .ci/setup --test-tools installs faketime: under CI a missing one fails (a skip would hide it)
    pytest.mark.skipif(not os.environ.get("CI") and (shutil.which("faketime") is None
                                                     or shutil.which("setpriv") is None),
                       reason="needs faketime and setpriv (.ci/setup --test-tools)"),
]
ONE_YEAR = 366 * 24 * 3600


def _starter_environment() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A root process under ``faketime`` (alive, so its semaphore exists) and its environment."""
    script = "env -0; printf END; sleep 60"
    starter = subprocess.Popen(["faketime", "-f", f"+{ONE_YEAR}", "sh", "-c", script],
                               stdout=subprocess.PIPE, text=True,
                               env={"PATH": "/usr/bin:/bin", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    assert starter.stdout is not None
    text = ""
    while not text.endswith("\0END"):
        chunk = starter.stdout.read(1)
        assert chunk, "faketime's shell ended before printing its environment"
        text += chunk
    environ = dict(item.split("=", 1) for item in text.split("\0") if "=" in item)
    return starter, environ


def _clock_as_nobody(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``date +%s`` as nobody, through a shell (a child of the switched process, as a service's
    workers are), the preloads set after the switch."""
    env = dict(env)
    preload = {k: env.pop(k) for k in PRELOAD_ENVIRONMENT}
    command = get_account_command(["/bin/sh", "-c", "/usr/bin/date +%s"],
                                  RunAs(NOBODY, NOBODY, (NOBODY,)), preload)
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                          timeout=30)


def _unshifted_clock(env: dict[str, str]) -> int:
    """Now by the real clock: libfaketime with a zero shift (the pass's own shift left out)."""
    unshifted = {k: v for k, v in env.items() if k != "FAKETIME_SHARED"} | {"FAKETIME": "+0"}
    return int(subprocess.check_output(["/usr/bin/date", "+%s"], env=unshifted, text=True))


def test_get_account_command__another_account_runs_under_the_shift(tmp_path: Path) -> None:
    starter, environ = _starter_environment()
    try:
        assert Path("/dev/shm", "sem." + environ["FAKETIME_SHARED"].split()[0][1:]).exists()
        env = get_service_environment(config_for(tmp_path / "home"), environ)
        done = _clock_as_nobody(env)
        now = _unshifted_clock(env)
    finally:
        starter.kill()
        starter.wait()
    assert "FAKETIME_SHARED" not in env
    assert env["FAKETIME"] == f"+{ONE_YEAR}"
    assert done.returncode == 0, done.stderr
    assert abs(int(done.stdout) - ONE_YEAR - now) < 120
