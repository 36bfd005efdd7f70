"""The driver's peak memory of cohort QC on a Spark standalone cluster beside local mode.

One run: a GT-only cohort VCF (``plink2 --dummy``, made as ``benchmarks/qc_scale.py`` makes its
VCFs; ``--samples``, ``--variants``) and a standalone cluster on 127.0.0.1 (a master and two
one-core workers, executors of 1 GiB: ``tests/cluster/standalone.py``). The same QC,
``genomlab workspace qc run --engine hail``, runs ``--repeats`` times with the cluster as its
master and with ``local[2]`` (the same two cores, every Hail pass inside the driver's JVM),
alternating, each a fresh process given the same driver memory (``--driver-memory``).

Printed per run and as medians: wall time, the peak resident memory (RSS, sampled every 50 ms)
of the driver's whole process tree (the Python CLI and its JVM) and of its JVM alone, and the
ratio cluster / local. The cluster's master, workers and executors are not children of the CLI
and are not counted: they are what the cluster adds, on other machines in a deployment.

The world's cohort is too small for this measure: there the difference is smaller than where
the JVM's garbage collector happens to run, which is why the cluster test
(``tests/cluster/test_cluster_qc.py``) compares the tables and leaves memory to this benchmark.

    PYTHONPATH=. .venv/bin/python benchmarks/qc_cluster_memory.py [--samples 1000]
        [--variants 100000] [--repeats 2] [--driver-memory 2g] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.qc_scale import get_vcf
from genomlab.process_memory import PeakTreeRss
from tests.cluster.standalone import start_spark_cluster

GENOMLAB = str(Path(sys.executable).parent / "genomlab")


def run_qc(vcf: Path, out: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """One ``genomlab workspace qc run --engine hail``: seconds, peak tree RSS, peak JVM RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen([GENOMLAB, "workspace", "qc", "run", "--vcf", str(vcf), "--out",
                             str(out), "--engine", "hail"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    tree, jvm = PeakTreeRss(proc.pid), PeakTreeRss(proc.pid, only="java")
    output, _ = proc.communicate()
    peaks = tree.stop(), jvm.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{out}: genomlab workspace qc run exited {proc.returncode}:\n{output}")
    return time.perf_counter() - start, *peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--cache", type=Path, help="keep the VCF here for the next run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="qc-cluster-") as scratch:
        base = Path(scratch)
        folder = args.cache or base / "vcf"
        folder.mkdir(parents=True, exist_ok=True)
        vcf = get_vcf(folder, args.samples, args.variants)
        with start_spark_cluster(base / "spark") as cluster:
            env = {**os.environ, **cluster.env, "GENOMLAB_HOME": str(base / "home"),
                   "GENOMLAB_SPARK__DRIVER_MEMORY": args.driver_memory}
            env.pop("GENOMLAB_CONFIG", None)
            masters = {"cluster": cluster.master_url, "local": "local[2]"}
            runs: dict[str, list[tuple[float, int, int]]] = {mode: [] for mode in masters}
            for repeat in range(args.repeats):
                for mode, master in masters.items():
                    result = run_qc(vcf, base / f"{mode}{repeat}",
                                    {**env, "GENOMLAB_SPARK__MASTER": master})
                    runs[mode].append(result)
                    print(f"run {repeat + 1} {mode:<7} {result[0]:7.1f} s  tree "
                          f"{result[1] / 2**20:6.0f} MiB  driver JVM {result[2] / 2**20:6.0f} "
                          f"MiB  (load {os.getloadavg()[0]:.1f})", flush=True)

    print(f"\n{args.samples} samples × {args.variants:,} variants, driver memory "
          f"{args.driver_memory}, {args.repeats} runs each; medians:")
    medians = {mode: [statistics.median(run[k] for run in runs[mode]) for k in range(3)]
               for mode in masters}
    print(f"{'':<12}{'cluster':>10}{'local[2]':>10}{'ratio':>8}")
    for k, (name, scale, unit) in enumerate((("wall", 1, "s"), ("tree RSS", 2**20, "MiB"),
                                             ("driver JVM", 2**20, "MiB"))):
        cluster_value, local_value = medians["cluster"][k], medians["local"][k]
        print(f"{name + ' ' + unit:<12}{cluster_value / scale:>10.0f}{local_value / scale:>10.0f}"
              f"{cluster_value / local_value:>8.2f}")


if __name__ == "__main__":
    main()
