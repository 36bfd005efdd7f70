"""The cohort QC of the synthetic world on a Spark standalone cluster (a master and two workers)
equals local mode, and the cluster's driver needs less memory than local mode's.

Both runs are ``genomlab workspace qc run`` subprocesses (a process holds one Hail), so each
driver's peak memory can be sampled: the resident memory of the CLI process and its children
(the driver JVM), and of the driver JVM alone. The cluster's master, workers and executors are
not children of the CLI and are not counted. The driver JVM must need less in the cluster. The
whole tree is printed, not asserted: its Python part is the same code in both runs (about 360 MiB
on the world), and where the JVM's garbage collector happens to run moves the sum by more than
the cluster saves (CI once saw 1,264 MiB for the cluster's tree and 999 MiB for local mode while
the cluster's JVM alone stayed below local mode's).
Local mode runs the same Hail passes (``--engine hail``) on ``local[2]``,
where they all run inside the driver's JVM. Every QC table is compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genomlab.process_memory import PeakTreeRss
from tests.cluster.conftest import N_WORKERS, SparkCluster
from tests.conftest import REPO

WORLD = REPO / "data_samples" / "world" / "genotypes"


def _run_qc(env: dict[str, str], out: Path, *extra: str) -> tuple[int, int]:
    """Run the QC CLI on the committed world; peak RSS in bytes of its whole process tree and
    of its driver JVM alone."""
    vcf, fam = WORLD / "cohort.vcf.bgz", WORLD / "cohort.fam"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "genomlab"), "workspace", "qc", "run", "--vcf",
         str(vcf), "--fam", str(fam), "--out", str(out), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=out.parent)
    tree, jvm = PeakTreeRss(proc.pid), PeakTreeRss(proc.pid, only="java")
    output, _ = proc.communicate(timeout=1800)
    peaks = tree.stop(), jvm.stop()
    assert proc.returncode == 0, output
    return peaks


@pytest.mark.slow
@pytest.mark.hail
def test_cohort_qc__spark_standalone_cluster_equals_local_mode_with_less_driver_memory(
        spark_cluster: SparkCluster, tmp_path: Path) -> None:
    env = {**os.environ, **spark_cluster.env, "GENOMLAB_HOME": str(tmp_path / "home"),
           "GENOMLAB_SPARK__DRIVER_MEMORY": "2g"}
    env.pop("GENOMLAB_CONFIG", None)
    cluster_peak = _run_qc({**env, "GENOMLAB_SPARK__MASTER": spark_cluster.master_url},
                           tmp_path / "cluster")
    executor_logs = list(spark_cluster.work_dir.glob("worker*/app-*/*/stderr"))
    workers = {log.relative_to(spark_cluster.work_dir).parts[0] for log in executor_logs}
    assert len(workers) == N_WORKERS, f"executors ran on {sorted(workers)} only"
    assert all("hail" in log.read_text(errors="replace").lower() for log in executor_logs)

    local_peak = _run_qc({**env, "GENOMLAB_SPARK__MASTER": "local[2]"}, tmp_path / "local",
                         "--engine", "hail")
    # The Python side (the streamed numpy passes) is the same in both runs; what the cluster
    # takes off the driver is the Hail work its JVM does in local mode.
    mib = [round(x / 2**20) for x in (*cluster_peak, *local_peak)]
    print(f"peak MiB, tree / driver JVM: cluster {mib[0]} / {mib[1]}, local {mib[2]} / {mib[3]}")
    assert cluster_peak[1] < local_peak[1], (
        f"driver JVM peak MiB cluster {mib[1]} local {mib[3]} (trees {mib[0]} / {mib[2]})")

    tables = sorted(path.name for path in (tmp_path / "local").glob("*.tsv"))
    assert {"sample_qc.tsv", "variant_qc.tsv"} <= set(tables)
    assert sorted(path.name for path in (tmp_path / "cluster").glob("*.tsv")) == tables
    for table in tables:
        cluster = pd.read_csv(tmp_path / "cluster" / table, sep="\t")
        local = pd.read_csv(tmp_path / "local" / table, sep="\t")
        pd.testing.assert_frame_equal(cluster, local, check_exact=False, rtol=1e-9, obj=table)
    sample_qc = pd.read_csv(tmp_path / "local" / "sample_qc.tsv", sep="\t")
    assert len(sample_qc) == len((WORLD / "cohort.fam").read_text().splitlines())
