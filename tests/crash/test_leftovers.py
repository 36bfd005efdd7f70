"""Leftovers of a killed run (issue 21): what a process killed with SIGKILL mid-write leaves is
removed by the next run of the same operation; a failing run removes its own.

Each test kills a real child process (SIGKILL, so no ``finally`` runs) at the moment the
operation has written its temporary data, then runs the operation again in this process.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from tests.conftest import REPO
from tests.platform.conftest import approve_application

pytestmark = pytest.mark.sigkill  # real subprocess kills; see pyproject's markers


def run_killed_child(code: str, *args: str, home: Path | None = None) -> None:
    """Run ``code`` in a child Python (this worktree's genomlab); it must die of SIGKILL."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if home is not None:
        env["GENOMLAB_HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]


def list_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_make_staging_dir__next_release_removes_a_killed_releases_staging(tmp_path: Path) -> None:
    from genomlab.data_service.files import make_staging_dir

    target = tmp_path / "workspaces" / "GDE-2026-0001" / "release"
    run_killed_child("""
        import os, signal, sys
        from pathlib import Path
        from genomlab.data_service.files import make_staging_dir
        staging = make_staging_dir(Path(sys.argv[1]))
        (staging / "clinical").mkdir()
        (staging / "clinical" / "persons.parquet").write_text("s,diagnosis\\nP1,Q87.4\\n")
        os.kill(os.getpid(), signal.SIGKILL)
        """, str(target))
    assert any("persons.parquet" in f for f in list_files(target.parent))
    running = make_staging_dir(target)  # a concurrent, live release keeps its folder
    (running / "x").write_text("live")

    staging = make_staging_dir(target)

    assert sorted(p.name for p in target.parent.iterdir()) == sorted([running.name,
                                                                      staging.name])


def _write_vcf(path: Path) -> Path:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1",
             "chr1\t1000\t.\tA\tG\t.\tPASS\t.\tGT\t0/1"]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


class FailingHail:
    """``hl`` whose VCF import fails (a Spark error, a full disk)."""

    def import_vcf(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("import failed")


FAILING_HAIL: Any = FailingHail()


def test_write_batch__removes_its_merged_vcf_on_failure_and_a_killed_runs(
        tmp_path: Path) -> None:
    from genomlab.genome_center.genotypes import SampleSource, write_batch

    vcf = _write_vcf(tmp_path / "donor.vcf.gz")
    grz = tmp_path / "grz" / "GRZK00001"
    store_dir, scratch = grz / "genotypes" / "consented" / "batches", grz / "tmp"
    run_killed_child("""
        import os, signal, sys
        from pathlib import Path
        from genomlab.genome_center.genotypes import SampleSource, write_batch
        class KilledHail:
            def import_vcf(self, *args, **kwargs):
                os.kill(os.getpid(), signal.SIGKILL)
        vcf, store_dir, scratch = map(Path, sys.argv[1:4])
        write_batch(KilledHail(), [SampleSource(vcf, "S1", "GP1", "consented")], store_dir,
                    "b1", scratch)
        """, str(vcf), str(store_dir), str(scratch))
    assert [f for f in list_files(scratch) if f.endswith("b1.vcf")], "the killed run's merge"

    with pytest.raises(RuntimeError, match="import failed"):
        write_batch(FAILING_HAIL, [SampleSource(vcf, "S1", "GP1", "consented")], store_dir,
                    "b2", scratch)

    assert list_files(scratch) == []
    assert list_files(store_dir) == []


def test_replace_rows__next_write_removes_a_killed_writers_parquet(tmp_path: Path) -> None:
    import polars as pl

    from genomlab.clinical_node.store import replace_rows

    path = tmp_path / "kdk" / "KDKK00001" / "clinical" / "consented" / "cases.parquet"
    run_killed_child("""
        import os, signal, sys
        from pathlib import Path
        import polars as pl
        from genomlab.clinical_node.store import replace_rows
        os.replace = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
        replace_rows(Path(sys.argv[1]), [{"record_id": "r1", "diagnosis": "Q87.4"}],
                     {"record_id": pl.String, "diagnosis": pl.String})
        """, str(path))
    assert list_files(path.parent), "the killed writer's temporary Parquet"

    assert replace_rows(path, [{"record_id": "r2", "diagnosis": "G71.0"}],
                        {"record_id": pl.String, "diagnosis": pl.String}) == 1

    assert list_files(path.parent) == ["cases.parquet"]


@pytest.fixture
def airlock_project(config: GenomlabConfig) -> str:
    from genomlab.airlock.requests import get_outputs_dir

    project, _ = approve_application(config)
    outputs = get_outputs_dir(config, project)
    outputs.mkdir(parents=True)
    (outputs / "by_sex.csv").write_text("sex,n\nF,60\nM,55\n")
    return project


KILLED_SUBMIT = """
    import os, pathlib, signal, sys
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock import requests
    from genomlab.config import load_config
    {kill}
    config = load_config()
    requests.submit_request(config, PlatformDirectory(config), "alice", sys.argv[1],
                            ["by_sex.csv"])
    """


def test_submit_request__rerun_after_a_kill_before_the_event_commits(
        config: GenomlabConfig, airlock_project: str) -> None:
    from genomlab.airlock.directory import PlatformDirectory
    from genomlab.airlock.requests import airlock_dir, submit_request

    run_killed_child(KILLED_SUBMIT.format(kill=(
        "requests.check_files = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)")),
        airlock_project, home=config.home)
    run_killed_child(KILLED_SUBMIT.format(kill=(
        "rename = pathlib.Path.rename\n"
        "    pathlib.Path.rename = lambda self, target: (rename(self, target), "
        "os.kill(os.getpid(), signal.SIGKILL))")), airlock_project, home=config.home)
    requests = airlock_dir(config) / "requests"
    assert (requests / "AR-000001").is_dir(), "the killed run's snapshot, its event uncommitted"

    request_id = submit_request(config, PlatformDirectory(config), "alice", airlock_project,
                                ["by_sex.csv"])

    assert request_id == "AR-000001"
    assert list_files(requests) == ["AR-000001/by_sex.csv"]
