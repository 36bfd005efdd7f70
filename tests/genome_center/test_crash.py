"""Crash safety: intake killed (SIGKILL) mid-store, rerun completes without duplicates or loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genomlab.genome_center import genotypes
from genomlab.genome_center.intake import PAUSE_ENV, GenomeCenter
from genomlab.genome_center.store import PROJECTION
from genomlab.institution import existing_institutions
from genomlab.ledger import projection_matches
from tests.conftest import config_for

pytestmark = [pytest.mark.hail, pytest.mark.slow]
NODE = "GRZHD0003"


def _submit(home: Path, dirs: list[Path], pause: str | None) -> subprocess.Popen[str]:
    env = {**os.environ, "GENOMLAB_HOME": str(home)}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen([sys.executable, "-m", "genomlab.cli", "grz", "submit",
                             "--node", NODE, *map(str, dirs)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_pause(proc: subprocess.Popen[str], step: str, timeout: float = 300) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.strip() == f"PAUSED {step}":
            return "".join(seen)
    raise AssertionError(f"intake never paused at {step}: {''.join(seen)[-2000:]}")


def test_grz_submit__killed_after_batch_written_rerun_completes(world_copy, hl, tmp_path):
    from genomlab.intake import register_world_nodes, request_world_case_numbers

    home = tmp_path / "home"
    config = config_for(home)
    register_world_nodes(config, world_copy, actor="test")
    request_world_case_numbers(config, world_copy)
    truth = json.loads((world_copy / "truth.json").read_text())
    dirs = sorted(world_copy / s["path"] for s in truth["submissions"] if s["grz"] == NODE)[:4]
    dirs += [world_copy / b["path"] for b in truth["bad_submissions"]
             if b["derived_from"] in {d.name for d in dirs}]

    proc = _submit(home, dirs, "batch_written")
    _wait_for_pause(proc, "batch_written")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    grz = GenomeCenter(config, NODE)
    assert grz.get_batch_paths("consented") == []
    orphans = list(genotypes.get_store_dir(grz.institution.directory, "consented").iterdir())
    assert orphans, "the killed run had written its batch folder"
    assert {r["state"] for r in grz.get_submissions()} <= {"pseudonymised", "error"}

    rerun = _submit(home, dirs, None)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output
    rows = grz.get_submissions()
    assert len(rows) == len(dirs)
    assert {r["inbox_id"] for r in rows if r["state"] in ("finished", "qc_selected")} == {
        d.name for d in dirs if not d.name.startswith("bad_")}
    donors = grz.get_donors()
    for store_name in genotypes.STORES:
        paths = grz.get_batch_paths(store_name)
        assert len(paths) <= 1
        present = sorted(p.name for p in genotypes.get_store_dir(grz.institution.directory,
                                                                 store_name).iterdir())
        assert present == sorted(Path(p).name for p in paths)
        if paths:
            columns = hl.read_matrix_table(paths[0]).s.collect()
            assert len(columns) == len(set(columns))
            assert set(columns) == {d["genome_pseudonym"] for d in donors
                                    if d["store"] == store_name and d["batch_id"]}
    assert len(list(grz.ledger.events(type="submission.stored"))) == len(
        [r for r in rows if r["state"] != "error"])
    assert projection_matches(grz.ledger, PROJECTION) == []
    for inst in existing_institutions(config):
        assert inst.ledger().verify().ok, inst.name
