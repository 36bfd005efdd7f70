"""The cohort QC of the synthetic world on a Spark standalone cluster equals local mode.

The test session's Hail already runs on ``local[2]`` and a process holds one Hail, so the
cluster run is a ``genomlab workspace qc run`` subprocess with
``GENOMLAB_SPARK__MASTER=spark://…``; the local run uses the session's Hail. Every QC table is
compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from genomlab.workspace.qc.pipeline import run_cohort_qc
from tests.cluster.conftest import SparkCluster
from tests.conftest import REPO

WORLD = REPO / "data_samples" / "world" / "genotypes"


@pytest.mark.slow
@pytest.mark.hail
def test_cohort_qc__spark_standalone_cluster_equals_local_mode(
        spark_cluster: SparkCluster, hl: Any, tmp_path: Path) -> None:
    vcf, fam = WORLD / "cohort.vcf.bgz", WORLD / "cohort.fam"
    env = {**os.environ, **spark_cluster.env, "GENOMLAB_HOME": str(tmp_path / "home"),
           "GENOMLAB_SPARK__MASTER": spark_cluster.master_url,
           "GENOMLAB_SPARK__DRIVER_MEMORY": "2g"}
    env.pop("GENOMLAB_CONFIG", None)
    run = subprocess.run(
        [str(Path(sys.executable).parent / "genomlab"), "workspace", "qc", "run", "--vcf", str(vcf),
         "--fam", str(fam), "--out", str(tmp_path / "cluster")],
        env=env, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    executor_logs = list(spark_cluster.work_dir.glob("app-*/*/stderr"))
    assert executor_logs, "the cluster ran no executor: the QC did not run on the cluster"
    assert any("hail" in log.read_text(errors="replace").lower() for log in executor_logs)

    run_cohort_qc(hl, tmp_path / "local", vcf=vcf, samples=fam)
    tables = sorted(path.name for path in (tmp_path / "local").glob("*.tsv"))
    assert {"sample_qc.tsv", "variant_qc.tsv"} <= set(tables)
    assert sorted(path.name for path in (tmp_path / "cluster").glob("*.tsv")) == tables
    for table in tables:
        cluster = pd.read_csv(tmp_path / "cluster" / table, sep="\t")
        local = pd.read_csv(tmp_path / "local" / table, sep="\t")
        pd.testing.assert_frame_equal(cluster, local, check_exact=False, rtol=1e-9, obj=table)
    sample_qc = pd.read_csv(tmp_path / "local" / "sample_qc.tsv", sep="\t")
    assert len(sample_qc) == len(fam.read_text().splitlines())  # every sample, not an empty table
