"""The one Hail session: local[2], bound to loopback, UI off, scratch under the home."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genomlab.config import load_config
from genomlab.errors import GenomlabError
from genomlab.hail_session import init_hail, java_version, spark_conf_for


@pytest.mark.hail
def test_init_hail__local_session_is_loopback_and_quiet(hl: Any) -> None:
    conf = dict(hl.spark_context().getConf().getAll())
    assert hl.spark_context().master == "local[2]"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    local_dir = Path(conf["spark.local.dir"])  # one folder per process, removed at its exit
    assert local_dir.parent.as_posix().endswith("hail-home0/tmp/local")
    assert local_dir.name.startswith("session-")
    mt = hl.balding_nichols_model(2, 20, 300, n_partitions=2)
    qc = hl.sample_qc(mt).cols().collect()
    assert len(qc) == 20
    assert all(row.sample_qc.call_rate == 1.0 for row in qc)


@pytest.mark.hail
def test_init_hail__second_call_reuses_and_other_master_is_refused(hl: Any) -> None:
    config = load_config(environ={})
    assert init_hail(config, master="local[2]") is hl
    with pytest.raises(GenomlabError, match="already runs on local"):
        init_hail(config, master="local[1]")


def test_spark_conf_for__cluster_master_ships_hail_jar() -> None:
    config = load_config(environ={})
    conf = spark_conf_for(config, "spark://127.0.0.1:7077")
    assert conf["spark.jars"].endswith("hail-all-spark.jar")
    assert conf["spark.executor.extraClassPath"] == conf["spark.jars"]
    assert "spark.driver.bindAddress" not in conf


def test_java_version__is_11_or_17() -> None:
    assert java_version() in (11, 17)
