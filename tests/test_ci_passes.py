"""``.ci/passes.py``: the pytest passes of ``make test``, two at a time from one queue."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO


def load_passes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_passes", REPO / ".ci" / "passes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_passes"] = module  # dataclasses resolve the module's annotations here
    spec.loader.exec_module(module)
    return module


def test_run_passes__a_failed_pass_fails_the_run_and_every_pass_runs(tmp_path: Path) -> None:
    ci = load_passes()
    # a pause libfaketime lets through (time.sleep fails with EINVAL under the shifted clock)
    code = ("import sys, threading; threading.Event().wait({}); print('engine x: {}'); "
            "sys.exit({})")
    passes = [ci.Pass("slow ok", [sys.executable, "-c", code.format(1.5, "slow", 0)]),
              ci.Pass("fails", [sys.executable, "-c", code.format(0.5, "bad", 3)]),
              ci.Pass("after", [sys.executable, "-c", code.format(0.5, "after", 0)])]
    started = time.monotonic()
    assert ci.run_passes(passes, workers=2, logs=tmp_path) is False
    wall = time.monotonic() - started
    assert [p.returncode for p in passes] == [0, 3, 0]
    assert passes[1].log is not None
    assert passes[1].log.read_text().strip() == "engine x: bad"
    # two workers: the second and third ran beside the first (one after the other: the sum)
    assert wall < sum(p.seconds for p in passes) - 0.5
    (tmp_path / "again").mkdir()
    assert ci.run_passes(passes[:1], workers=2, logs=tmp_path / "again") is True


def test_get_passes__every_test_runs_under_today_and_a_shifted_clock() -> None:
    ci = load_passes()
    now = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC).timestamp()
    passes = ci.get_passes("postgresql+psycopg://x@127.0.0.1:1/y", ["-x"], now=now)
    marks = {p.name: p.command[len(p.command) - p.command[::-1].index("-m")] for p in passes
             if p.name != "PostgreSQL"}  # the last -m (the first is python's)
    assert marks["Hail, notebooks and browsers"] == "hail or browser or notebook"
    assert marks["fast tests"] == "not (hail or browser or notebook)"
    shifted = [p for p in passes if p.name.startswith("shifted clock")]
    assert len(shifted) == 2
    assert all(p.command[0] == "faketime" and p.env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
               for p in shifted)
    # offsets from the given now to each date (local time, as `date -d` reads it)
    assert [int(p.command[2]) for p in shifted] == [
        int(dt.datetime.fromisoformat(at).timestamp() - now) for at in ci.SHIFTED_CLOCKS]
    assert all(p.command[2].startswith("+") for p in shifted)
    # each date runs its own share of the fast test files, together all of them
    from genomlab.config import load_config
    from tests.shards import SHARD_VARIABLE

    assert sorted(p.env[SHARD_VARIABLE] for p in shifted) == ["0/2", "1/2"]
    # every process of the pass inherits it, so genomlab's configuration must not read it (a
    # GENOMLAB_ name is a configuration key, and an unknown key is refused)
    for item in shifted:
        load_config(environ={"GENOMLAB_HOME": "/nonexistent", **item.env})
    postgres = next(p for p in passes if p.name == "PostgreSQL")
    assert postgres.env["PYTEST_POSTGRES"].startswith("postgresql")
    assert "tests/test_ledger.py" in postgres.command
    assert [p.command.count("-x") for p in passes] == [1, 1, 0, 0, 0]  # PYTEST_ARGS: today's


def test_main__an_argument_is_refused_before_any_pass_starts(capsys) -> None:
    ci = load_passes()
    assert ci.main(["--help"]) == 2
    assert "takes no arguments (got --help)" in capsys.readouterr().err


def test_shard__the_shares_of_the_fast_files_are_disjoint_and_cover_them(
        tmp_path: Path) -> None:
    """What pytest collects under each ``PYTEST_SHARD`` (conftest.py, tests/shards.py)."""
    import os
    import subprocess

    def collected(shard: str | None) -> set[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_SHARD"}
        if shard is not None:
            env["PYTEST_SHARD"] = shard
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
             "tests/test_ci_passes.py", "tests/test_jsonschema_import.py", "tests/test_glossary.py",
             "tests/test_faults.py", "genomlab/glossary.py"],
            cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        return {line.split("::")[0] for line in out.splitlines() if "::" in line}

    whole, first, second = collected(None), collected("0/2"), collected("1/2")
    assert len(whole) == 5
    assert first  # these five files fall into both shares
    assert second
    assert first | second == whole
    assert not first & second
