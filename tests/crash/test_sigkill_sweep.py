"""SIGKILL sweep: intake (GRZ, KDK), release, QC and the airlock killed at named points.

Each operation runs as the real CLI in a subprocess. ``GL_CRASHPOINT`` (the test hook of
:mod:`genomlab.crashpoints`) makes the process kill itself with SIGKILL at one point: no
``finally`` block, no ``atexit`` handler runs. The points of one operation are hit one after the
other, each run a rerun after the previous kill; then the command runs to completion. After that:
every ledger verifies, no record or event is lost or duplicated, and no file with genotypes or
clinical data is left over anywhere under the home (staging folders, old release folders,
merged VCFs, ``*.tmp``, Hail/Spark scratch under ``tmp/``).

Hail points (GRZ storage, release, QC) are marked ``hail``; they share one home, built up stage by
stage (GRZ intake of one GRZ → release → QC), because each subprocess pays ~20-30 s for Spark
(more on a busy machine). By default they are the GRZ's three points, the release killed with
its staging folder written and after the rename before its ledger event, and QC killed with a
table half-written (see :data:`FULL` for all of them).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.crashpoints import CRASHPOINT_ENV
from genomlab.institution import existing_institutions
from genomlab.ledger import Ledger, projection_matches
from genomlab.platform.person_credentials import CREDENTIALS_ENV
from tests.conftest import REPO, config_for, copy_home
from tests.people_credentials import credentials_for
from tests.platform.conftest import make_form, populate

pytestmark = pytest.mark.sigkill  # real subprocess kills; see pyproject's markers

FULL = os.environ.get("GL_SIGKILL_SWEEP") == "full"
"""Every Hail point (11 Spark starts, ~15 min on a busy 2-core machine) instead of the most
telling ones (8 starts): ``GL_SIGKILL_SWEEP=full pytest tests/crash -m hail``."""
KDK_POINTS = ("kdk.received", "kdk.parquet_written", "kdk.stored")
GRZ_POINTS = ("grz.pseudonymised", "grz.merged", "grz.batch_written")
RELEASE_POINTS = ("release.staging", *(("release.staged",) if FULL else ()), "release.replaced")
QC_POINTS = (*(("qc.exported",) if FULL else ()), "qc.table_written",
             *(("qc.tables_written",) if FULL else ()))
LEFTOVER = re.compile(r"\.staging-|\.old-|^merge-|\.tmp$|\.tmp-|^session-")
JUSTIFICATION = ("Variant-level association with the clinical phenotype needs individual "
                 "genotypes and phenotypes of each person in the cohort.")


@dataclass(frozen=True)
class Kill:
    """One run killed at ``point`` and the leftover files it left under the home."""

    point: str
    leftovers: tuple[str, ...]


def find_leftovers(home: Path) -> list[str]:
    """What only a crashed or running write leaves under ``home``: staging, old-release, merge
    and Hail session folders (empty or not) and what is in them, any ``*.tmp``, any file under
    ``tmp/``."""
    found = []
    for path in home.rglob("*"):
        relative = path.relative_to(home)
        if (relative.parts[0] == "tmp" and not path.is_dir()) or any(
                LEFTOVER.search(p) for p in relative.parts):
            found.append(str(relative))
    return sorted(found)


def run_cli(home: Path, *args: str, crashpoint: str | None = None, user: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``python -m genomlab.cli ARGS`` on ``home`` (this worktree's code, Spark on 2 cores)."""
    env = {**os.environ, "GENOMLAB_HOME": str(home), "PYTHONPATH": str(REPO),
           "GENOMLAB_SPARK__MASTER": "local[2]", "GENOMLAB_SPARK__DRIVER_MEMORY": "2g"}
    env.pop(CRASHPOINT_ENV, None)
    env.pop(CREDENTIALS_ENV, None)
    if crashpoint:
        env[CRASHPOINT_ENV] = crashpoint
    if user:  # the person acts by their credentials file (issue 15), never by a name
        env[CREDENTIALS_ENV] = str(credentials_for(config_for(home), user))
    return subprocess.run([sys.executable, "-m", "genomlab.cli", *args], env=env, text=True,
                          capture_output=True, timeout=900, check=False)


def kill_at(home: Path, args: list[str], point: str, user: str | None = None) -> Kill:
    """Run ``args`` with the crash point set; assert it died of SIGKILL there."""
    proc = run_cli(home, *args, crashpoint=point, user=user)
    assert proc.returncode == -signal.SIGKILL, (
        f"{point}: not killed there (exit {proc.returncode}): {proc.stdout[-2000:]}"
        f"{proc.stderr[-2000:]}")
    return Kill(point, tuple(find_leftovers(home)))


def complete(home: Path, args: list[str], user: str | None = None) -> str:
    """Run ``args`` to completion (exit 0); its output."""
    proc = run_cli(home, *args, user=user)
    assert proc.returncode == 0, f"rerun of {args}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout


def kill_then_complete(home: Path, args: list[str], points: tuple[str, ...],
                       user: str | None = None) -> list[Kill]:
    """Run ``args`` killed at each point in turn (each run a rerun), then to completion."""
    kills = [kill_at(home, args, point, user) for point in points]
    complete(home, args, user)
    return kills


def assert_ledgers_verify(config: GenomlabConfig) -> None:
    for institution in existing_institutions(config):
        assert institution.ledger().verify().ok, institution.name


def count_events(ledger: Ledger, event_type: str, key: str) -> Counter[Any]:
    """How often each ``payload[key]`` occurs in events of ``event_type`` (lists counted per
    element)."""
    counts: Counter[Any] = Counter()
    for event in ledger.events(type=event_type):
        value = event.payload[key]
        counts.update(value if isinstance(value, list) else [value])
    return counts


def assert_no_duplicates(counts: Counter[Any]) -> None:
    assert counts, "no events counted"
    assert {k: n for k, n in counts.items() if n > 1} == {}


def get_smallest_grz(truth: dict[str, Any]) -> str:
    """The GRZ with the fewest submissions (the one the Hail chain submits to)."""
    counts = Counter(s["grz"] for s in truth["submissions"])
    return min(sorted(counts), key=counts.__getitem__)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic world (submissions, KDK records, truth)."""
    from genomlab.samples import generate_world

    out = tmp_path_factory.mktemp("sweep-world") / "w"
    generate_world(out, n_patients=20, n_variants=1000, seed=5)
    return out


@pytest.fixture(scope="module")
def base_home(world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(home, project, application): nodes approved, case numbers and consents recorded, an
    individual-level application of alice (tom on the team) approved over the whole cohort."""
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
    )
    from genomlab.platform.applications import Workflow

    home = tmp_path_factory.mktemp("sweep-base") / "home"
    config = config_for(home)
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    wf = Workflow(config)
    populate(wf)
    application_id = wf.create_draft("alice", make_form(
        criteria={}, clinical_fields=("sex", "diagnosis"), level="individual",
        individual_justification=JUSTIFICATION))
    project_id = wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.approve("dora", application_id)
    return home, project_id, application_id


def _home_copy(base_home: tuple[Path, str, str], tmp_path: Path) -> GenomlabConfig:
    return copy_home(base_home[0], tmp_path / "home")


def test_kdk_submit__killed_at_three_points_rerun_loses_and_duplicates_nothing(
        world: Path, base_home: tuple[Path, str, str], tmp_path: Path) -> None:
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.clinical_node.store import PROJECTION

    config = _home_copy(base_home, tmp_path)
    kills = kill_then_complete(config.home, ["kdk", "submit", str(world / "kdk")], KDK_POINTS)
    assert [k.point for k in kills if k.leftovers] == ["kdk.parquet_written"], kills
    assert find_leftovers(config.home) == []
    files = {node.name: sorted(node.rglob("*.json")) for node in (world / "kdk").iterdir()}
    for node_id, records in files.items():
        kdk = ClinicalNode(config, node_id)
        rows = kdk.get_records()
        assert len(rows) == len(records), node_id
        assert {r["state"] for r in rows} <= {"reported", "finished"}, node_id
        assert_no_duplicates(count_events(kdk.ledger, "record.stored", "record_ids"))
        assert sum(count_events(kdk.ledger, "record.stored", "record_ids").values()) == len(rows)
        stored = {r["record_id"] for r in rows}
        for store_name in ("consented", "nonconsented"):
            if any(r["store"] == store_name for r in rows):
                cases = kdk.read_table("cases", store_name=store_name)
                assert cases["record_id"].n_unique() == cases.height
                assert set(cases["record_id"]) <= stored
        assert projection_matches(kdk.ledger, PROJECTION) == []
    platform = next(i for i in existing_institutions(config) if i.kind == "platform")
    confirmed = count_events(platform.ledger(), "pruefbericht.confirmed", "tan_hash")
    assert_no_duplicates(confirmed)
    assert len(confirmed) == sum(len(r) for r in files.values())
    assert_ledgers_verify(config)


def test_airlock__killed_at_four_points_rerun_releases_once(
        base_home: tuple[Path, str, str], tmp_path: Path) -> None:
    from genomlab.airlock.requests import get_released_dir, open_airlock_ledger
    from genomlab.platform.store import open_platform_ledger

    config = _home_copy(base_home, tmp_path)
    project, application_id = base_home[1], base_home[2]
    outputs = config.workspace_dir(project) / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "by_sex.csv").write_text("sex,n\nF,60\nM,55\n")
    kills = kill_then_complete(config.home, ["airlock", "request", project, "by_sex.csv"],
                               ("airlock.copied", "airlock.renamed"), user="alice")
    complete(config.home, ["airlock", "review", "AR-000001", "approve", "--reason", "ok"],
             user="hanna")
    kills.append(kill_at(config.home, ["airlock", "review", "AR-000001", "approve", "--reason",
                                       "ok"], "airlock.copied_out", user="ute"))
    release = ["airlock", "release", "AR-000001"]
    kills.append(kill_at(config.home, release, "airlock.registered", user="ute"))
    complete(config.home, release, user="ute")

    assert kills[0].leftovers, kills  # the snapshot copy of the first kill ...
    assert kills[1].leftovers == (), kills  # ... swept by the next run
    assert find_leftovers(config.home) == []
    airlock = open_airlock_ledger(config)
    assert_no_duplicates(count_events(airlock, "airlock.request.submitted", "request_id"))
    assert count_events(airlock, "airlock.request.released", "request_id") == {"AR-000001": 1}
    requests = config.home / "airlock" / "requests"
    assert sorted(p.name for p in requests.iterdir()) == ["AR-000001"]
    released = get_released_dir(config, project) / "AR-000001" / "by_sex.csv"
    assert released.read_text() == "sex,n\nF,60\nM,55\n"
    results = [e.payload for e in open_platform_ledger(config).events(
        type="application.result_added") if "AR-000001" in e.payload["reference"]]
    assert len(results) == 1, results
    assert results[0]["application_id"] == application_id
    assert_ledgers_verify(config)


def hail_stage(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a Hail stage's test ``hail`` and ``slow``, with a timeout for its set-up of three
    Spark starts (minutes each on a machine under load)."""
    return pytest.mark.hail(pytest.mark.slow(pytest.mark.timeout(1800)(test)))


@dataclass
class HailHome:
    """The home the Hail stages build up, and the kills of each stage so far."""

    config: GenomlabConfig
    project: str
    application_id: str
    kills: dict[str, list[Kill]]

    def get_leftovers(self, stage: str) -> dict[str, tuple[str, ...]]:
        """Each kill point of ``stage`` → the leftovers right after that kill."""
        return {k.point: k.leftovers for k in self.kills[stage]}


@pytest.fixture(scope="module")
def grz_stage(world: Path, base_home: tuple[Path, str, str],
              tmp_path_factory: pytest.TempPathFactory) -> HailHome:
    """KDK intake (not killed), then GRZ intake of one GRZ killed at its points and completed."""
    from genomlab.intake import run_kdk_intake

    home, project, application_id = base_home
    config = copy_home(home, tmp_path_factory.mktemp("sweep-hail") / "home")
    run_kdk_intake(config, [world / "kdk"])
    truth = json.loads((world / "truth.json").read_text())
    submissions = [str(world / s["path"]) for s in truth["submissions"]
                   if s["grz"] == get_smallest_grz(truth)]
    kills = kill_then_complete(config.home, ["grz", "submit", *submissions], GRZ_POINTS)
    return HailHome(config, project, application_id, {"grz": kills})


@pytest.fixture(scope="module")
def release_stage(grz_stage: HailHome) -> HailHome:
    """The release of the approved application killed at its points and completed."""
    grz_stage.kills["release"] = kill_then_complete(
        grz_stage.config.home, ["data-service", "release", grz_stage.application_id],
        RELEASE_POINTS)
    return grz_stage


@pytest.fixture(scope="module")
def qc_stage(release_stage: HailHome) -> HailHome:
    """``workspace qc run --release`` (alice) killed at its points and completed."""
    workspace = release_stage.config.workspace_dir(release_stage.project)
    release_stage.kills["qc"] = kill_then_complete(release_stage.config.home, [
        "workspace", "qc", "run", "--release", str(workspace / "release"), "--out",
        str(workspace / "qc"), "--spark-master", "local[2]"], QC_POINTS, user="alice")
    return release_stage


@hail_stage
def test_grz_submit__killed_at_three_points_rerun_stores_each_genome_once(
        world: Path, grz_stage: HailHome) -> None:
    from genomlab.genome_center import genotypes
    from genomlab.genome_center.intake import GenomeCenter
    from genomlab.genome_center.store import PROJECTION

    config, kills = grz_stage.config, grz_stage.get_leftovers("grz")
    assert any(p.startswith("tmp/") or "/tmp/merge-" in p for p in kills["grz.merged"]), kills
    assert find_leftovers(config.home) == []
    truth = json.loads((world / "truth.json").read_text())
    for node_id in [get_smallest_grz(truth)]:
        grz = GenomeCenter(config, node_id)
        expected = {s["submission_id"] for s in truth["submissions"] if s["grz"] == node_id}
        rows = grz.get_submissions()
        assert {r["inbox_id"] for r in rows} == expected
        assert {r["state"] for r in rows} <= {"finished", "qc_selected"}
        assert_no_duplicates(count_events(grz.ledger, "genotypes.batch_stored", "batch_id"))
        donors = [d for d in grz.get_donors() if d["batch_id"]]
        for store_name in genotypes.STORES:
            indexed = {Path(p).name for p in grz.get_batch_paths(store_name)}
            folder = genotypes.get_store_dir(grz.institution.directory, store_name)
            present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
            assert present == indexed
        stored = Counter(s for e in grz.ledger.events(type="genotypes.batch_stored")
                         for _, s in e.payload["samples"])
        assert_no_duplicates(stored)
        assert set(stored) == {d["genome_pseudonym"] for d in donors}
        assert projection_matches(grz.ledger, PROJECTION) == []
    assert_ledgers_verify(config)


@hail_stage
def test_release__killed_at_its_points_rerun_completes_once(release_stage: HailHome) -> None:
    from genomlab.data_service.store import open_data_service_ledger

    stage, kills = release_stage, release_stage.get_leftovers("release")
    config = stage.config
    assert any(".release.staging-" in p and "persons.parquet" in p
               for p in kills["release.staging"]), kills
    assert find_leftovers(config.home) == []
    workspace = config.workspace_dir(stage.project)
    assert sorted(p.name for p in workspace.iterdir() if p.name.startswith(".")) == []
    ledger = open_data_service_ledger(config)
    completed = [e.payload for e in ledger.events(type="release.completed")]
    assert len(completed) == 1
    manifest = json.loads((workspace / "release" / "manifest.json").read_text())
    assert manifest["release_id"] == completed[0]["release_id"]
    assert_no_duplicates(Counter(completed[0]["persons"]))
    assert completed[0]["n_persons"] == manifest["counts"]["n_persons"] > 0
    assert_ledgers_verify(config)


@hail_stage
def test_qc_run__killed_at_its_points_rerun_writes_every_output(qc_stage: HailHome) -> None:
    import pandas as pd

    from genomlab.workspace.qc.pipeline import QC_PLOTS, QC_TABLES

    stage, kills = qc_stage, qc_stage.get_leftovers("qc")
    config = stage.config
    assert any(".sample_qc.tsv.tmp-" in p for p in kills["qc.table_written"]), kills
    assert any(p.startswith("tmp/local/session-")
               for p in kills["qc.table_written"]), kills  # the killed process's Spark scratch
    assert find_leftovers(config.home) == []
    qc = config.workspace_dir(stage.project) / "qc"
    assert {n for n in (*QC_TABLES, *QC_PLOTS) if not (qc / n).is_file()} == set()
    samples = pd.read_csv(qc / "sample_qc.tsv", sep="\t")
    release = json.loads((qc.parent / "release" / "manifest.json").read_text())
    assert samples["sample"].is_unique
    assert len(samples) == release["counts"]["n_persons"]
