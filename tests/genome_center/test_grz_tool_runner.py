"""BfArM's grzctl through its fork server (:mod:`genomlab.genome_center.grz_tool_runner`).

Each command's result (exit code, standard output and error) must be the result of a fresh
``grzctl`` process with the same arguments, environment and working folder; commands may run
side by side; and the server must not outlive the process that started it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genomlab.genome_center import grz_tool_runner
from genomlab.genome_center.grz_tool_runner import FORKSERVER_ENV, run_grz_tool
from genomlab.genome_center.grz_tools import find_grz_tool

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PYTEST_POSTGRES")),
    reason="the fork server opens no store: nothing to add in the PostgreSQL pass")


@pytest.fixture(scope="module")
def grzctl() -> Path:
    found = find_grz_tool("grzctl", [REPO], override=os.environ.get("PYTEST_GRZCTL"))
    if found is None:
        pytest.skip("BfArM's grzctl is not installed: run .ci/setup --test-tools "
                    "(makes .grzctl-venv) or set PYTEST_GRZCTL")
    return found


def _fresh(grzctl: Path, args: list[str], env: dict[str, str],
           cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(grzctl), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, cwd=cwd, check=False)


def test_run_grz_tool__same_result_as_a_fresh_process(grzctl: Path, tmp_path: Path) -> None:
    """Help (narrowed by the request's ``COLUMNS``), an unknown command, and a broken
    configuration named by a path relative to the request's working folder: each gives a fresh
    process's exit code, output and errors."""
    env = {k: v for k, v in os.environ.items() if k != FORKSERVER_ENV}
    narrow = {**env, "COLUMNS": "52"}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.yaml").write_text("identifiers: [unclosed\n")
    cases = [(["--help"], narrow), (["no-such-command"], env),
             (["--config", "sub/broken.yaml", "db", "list"], env)]
    for args, case_env in cases:
        served = run_grz_tool(grzctl, args, env=case_env, cwd=tmp_path)
        fresh = _fresh(grzctl, args, case_env, tmp_path)
        assert (served.returncode, served.stdout) == (fresh.returncode, fresh.stdout), args
        if args[0] == "--config":  # an uncaught exception: the frames above grzctl's differ
            assert served.returncode == 1
            assert served.stderr.splitlines()[-4:] == fresh.stderr.splitlines()[-4:]
            assert "sub/broken.yaml" in served.stderr
        else:
            assert served.stderr == fresh.stderr, args
    wide = run_grz_tool(grzctl, ["--help"], env={**env, "COLUMNS": "200"}, cwd=tmp_path)
    assert wide.stdout != run_grz_tool(grzctl, ["--help"], env=narrow, cwd=tmp_path).stdout
    assert run_grz_tool(grzctl, ["--help"], env=env).returncode == 0
    assert run_grz_tool(grzctl, ["no-such-command"], env=env).returncode == 2
    assert grzctl in grz_tool_runner._servers  # the server ran them, not a fresh process


def test_run_grz_tool__commands_run_side_by_side(grzctl: Path, tmp_path: Path) -> None:
    """Eight commands from four threads, each in its own folder: each answer is its own."""
    env = dict(os.environ)
    folders = [tmp_path / f"f{i}" for i in range(8)]
    for folder in folders:
        folder.mkdir()

    def run(folder: Path) -> subprocess.CompletedProcess[str]:
        return run_grz_tool(grzctl, ["--config", f"{folder.name}.yaml", "db", "list"],
                            env=env, cwd=folder)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(run, folders))
    for folder, answer in zip(folders, answers, strict=True):
        fresh = _fresh(grzctl, ["--config", f"{folder.name}.yaml", "db", "list"], env, folder)
        assert answer.returncode == fresh.returncode != 0
        assert answer.stderr == fresh.stderr
        assert f"{folder.name}.yaml" in answer.stderr + answer.stdout


def test_run_grz_tool__server_ends_with_the_process_that_started_it(
        grzctl: Path, tmp_path: Path) -> None:
    """A process that started a fork server and is SIGKILLed leaves no server behind."""
    script = textwrap.dedent(f"""
        import json, os, signal, sys
        from pathlib import Path
        from genomlab.genome_center import grz_tool_runner
        done = grz_tool_runner.run_grz_tool(Path({str(grzctl)!r}), ["--help"], env=os.environ)
        server = grz_tool_runner._servers[Path({str(grzctl)!r})]
        print(json.dumps({{"rc": done.returncode, "server": server.process.pid}}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    started = json.loads(done.stdout)
    assert started["rc"] == 0
    try:
        pidfd = os.pidfd_open(started["server"])
    except ProcessLookupError:
        return  # already gone
    try:
        ready, _, _ = select.select([pidfd], [], [], 60)  # poll: no sleep under libfaketime
        assert ready, f"fork server {started['server']} still runs after its starter died"
    finally:
        os.close(pidfd)


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _wait_gone(pid: int, seconds: float) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:  # poll: no sleep under libfaketime
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)


@pytest.mark.sigkill
def test_run_grz_tool__timeout_kills_the_command_and_what_it_started(tmp_path: Path) -> None:
    """A command past its timeout is killed with the process it started, and the fork server
    collects it at once, before any next request (no zombie).

    The hanging command is a console script of the test's own Python (pytest running a test that
    starts ``sleep`` and waits): the fork server serves any console script the same way."""
    tool = tmp_path / "bin" / "pytest"
    tool.parent.mkdir()
    tool.write_text(f"#!{sys.executable}\n")
    tool.chmod(0o755)
    marker = tmp_path / "grandchild.pid"
    (tmp_path / "test_hang.py").write_text(textwrap.dedent(f"""
        import signal, subprocess
        from pathlib import Path
        def test_hang():
            child = subprocess.Popen(["sleep", "600"])
            Path({str(marker)!r}).write_text(str(child.pid))
            signal.pause()
    """))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_") and k != FORKSERVER_ENV}
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            run_grz_tool(tool, ["-q", "-p", "no:cacheprovider", "-c", os.devnull,
                                "--rootdir", str(tmp_path), str(tmp_path / "test_hang.py")],
                         env=env, cwd=tmp_path, timeout=10)
        server = grz_tool_runner._servers[tool]
        assert marker.exists(), "the command did not start its process before the timeout"
        assert _wait_gone(int(marker.read_text()), 30), "the command's own process still runs"
        deadline_ok = False
        for _ in range(300):  # the server reaps on SIGCHLD, without another request
            if not _children_of(server.process.pid):
                deadline_ok = True
                break
            select.select([], [], [], 0.1)
        assert deadline_ok, f"fork server still has children {_children_of(server.process.pid)}"
    finally:
        with grz_tool_runner._lock:
            stopped = grz_tool_runner._servers.pop(tool, None)
        if stopped is not None:
            stopped.stop()
