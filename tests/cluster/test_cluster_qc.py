"""The cohort QC of the synthetic world on a Spark standalone cluster (a master and two workers)
equals local mode, table by table, and its passes ran on both workers' executors.

Both runs are ``genomlab workspace qc run`` subprocesses (a process holds one Hail). Local mode
runs the same Hail passes (``--engine hail``) on ``local[2]``, where they all run inside the
driver's JVM. How much driver memory the cluster saves is measured by
``benchmarks/qc_cluster_memory.py``, not here: on the world's small cohort the difference is
smaller than where the JVM's garbage collector happens to run (CI saw the driver JVM's peak at
614 MiB in the cluster and 594 MiB in local mode once, 558 vs 761 MiB another time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.cluster.standalone import N_WORKERS, SparkCluster
from tests.conftest import REPO

WORLD = REPO / "data_samples" / "world" / "genotypes"


def _run_qc(env: dict[str, str], out: Path, *extra: str) -> None:
    """Run the QC CLI on the committed world into ``out``."""
    vcf, fam = WORLD / "cohort.vcf.bgz", WORLD / "cohort.fam"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "genomlab"), "workspace", "qc", "run", "--vcf",
         str(vcf), "--fam", str(fam), "--out", str(out), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=out.parent,
        timeout=1800)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.slow
@pytest.mark.hail
def test_cohort_qc__spark_standalone_cluster_equals_local_mode(
        spark_cluster: SparkCluster, tmp_path: Path) -> None:
    env = {**os.environ, **spark_cluster.env, "GENOMLAB_HOME": str(tmp_path / "home"),
           "GENOMLAB_SPARK__DRIVER_MEMORY": "2g"}
    env.pop("GENOMLAB_CONFIG", None)
    _run_qc({**env, "GENOMLAB_SPARK__MASTER": spark_cluster.master_url}, tmp_path / "cluster")
    provenance = json.loads((tmp_path / "cluster" / "qc_provenance.json").read_text())
    assert (provenance["engine"], provenance["spark_master"]) == (
        "hail", spark_cluster.master_url)
    executor_logs = list(spark_cluster.work_dir.glob("worker*/app-*/*/stderr"))
    workers = {log.relative_to(spark_cluster.work_dir).parts[0] for log in executor_logs}
    assert len(workers) == N_WORKERS, f"executors ran on {sorted(workers)} only"
    assert all("hail" in log.read_text(errors="replace").lower() for log in executor_logs)

    _run_qc({**env, "GENOMLAB_SPARK__MASTER": "local[2]"}, tmp_path / "local", "--engine", "hail")

    tables = sorted(path.name for path in (tmp_path / "local").glob("*.tsv"))
    assert {"sample_qc.tsv", "variant_qc.tsv"} <= set(tables)
    assert sorted(path.name for path in (tmp_path / "cluster").glob("*.tsv")) == tables
    for table in tables:
        cluster = pd.read_csv(tmp_path / "cluster" / table, sep="\t")
        local = pd.read_csv(tmp_path / "local" / table, sep="\t")
        pd.testing.assert_frame_equal(cluster, local, check_exact=False, rtol=1e-9, obj=table)
    sample_qc = pd.read_csv(tmp_path / "local" / "sample_qc.tsv", sep="\t")
    assert len(sample_qc) == len((WORLD / "cohort.fam").read_text().splitlines())
