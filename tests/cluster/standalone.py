"""A real Spark standalone cluster on 127.0.0.1: a master and two workers from the installed
pyspark, for the cluster tests and ``benchmarks/qc_cluster_memory.py``.

:func:`start_spark_cluster` starts the JVMs with ``$SPARK_HOME/bin/spark-class`` in process
groups of their own, waits until the workers have registered, yields the master URL and kills
the groups (with the executors the workers launched) on leaving, also after a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

N_WORKERS = 2
WORKER_CORES = 1  # two workers of one core: as many as local[2], the VCF splits the same way
WORKER_MEMORY = "2g"
EXECUTOR_MEMORY = "1g"  # must fit into the worker's memory, or no executor ever starts


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    work_dir: Path  # worker<k>/ of each worker: one folder per application (executor logs)
    env: dict[str, str]  # what a driver process on this machine needs (SPARK_LOCAL_IP, ...)


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name}: exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.5)
    raise TimeoutError(f"{log}: no {text!r} after {timeout:.0f} s")


def _wait_for_count(log: Path, text: str, count: int, proc: subprocess.Popen[bytes],
                    timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count(text) >= count:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name}: exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.5)
    raise TimeoutError(f"{log}: fewer than {count} × {text!r} after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def start_spark_cluster(base: Path) -> Iterator[SparkCluster]:
    """A master and :data:`N_WORKERS` workers on 127.0.0.1 with their folders under ``base``."""
    spark_home = _spark_home()
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_CONF_DIR": str(base / "conf"), "SPARK_LOG_DIR": str(base / "logs"),
           "SPARK_WORKER_DIR": str(base / "work"), "SPARK_LOCAL_DIRS": str(base / "local")}
    for folder in ("conf", "logs", "work", "local"):
        (base / folder).mkdir(parents=True)
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    spark_class = str(spark_home / "bin" / "spark-class")
    commands = {
        "master": [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                   "--port", str(port), "--webui-port", "0"],
    } | {
        f"worker{k}": [spark_class, "org.apache.spark.deploy.worker.Worker", master_url,
                       "--host", "127.0.0.1", "--cores", str(WORKER_CORES), "--memory",
                       WORKER_MEMORY, "--webui-port", "0", "--work-dir",
                       str(base / "work" / f"worker{k}")]
        for k in range(1, N_WORKERS + 1)
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with (base / f"{name}.log").open("wb") as log:
                procs.append(subprocess.Popen(command, env=env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True))
            if name == "master":
                _wait_for(base / "master.log", "I have been elected leader", procs[0], 180)
        _wait_for_count(base / "master.log", "Registering worker", N_WORKERS, procs[0], 180)
        yield SparkCluster(master_url, base / "work",
                           {"SPARK_LOCAL_IP": "127.0.0.1",
                            "GENOMLAB_SPARK__EXECUTOR_MEMORY": EXECUTOR_MEMORY})
    finally:
        for proc in reversed(procs):
            _stop(proc)
