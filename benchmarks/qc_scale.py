"""Cohort QC as variants grow tenfold: genomlab's peak driver memory and wall time beside plink2.

One run, two cohort VCFs made fast by plink2 (``--dummy``, positions spread over chr1–22, then
``--export vcf bgz``; GT only), in a temporary folder: 1,000 samples × 100,000 variants and
1,000 × 1,000,000 (``--samples``, ``--sizes``). On each VCF:

- **plink2**: VCF → pgen, then ``--freq --missing --hardy midp --het`` (the basic QC), then
  ``--make-king-table`` and ``--pca 10`` on autosomal MAF ≥ 1 % variants thinned to 20,000
  (genomlab's ``qc_max_variants``); both totals are printed.
- **genomlab**: ``run_cohort_qc`` in a fresh process (Hail started on ``local[2]`` first, its
  start-up printed apart), VCF in, all tables and plots out.

Peak memory is the largest sum of resident memory (RSS) over the process tree, sampled every
50 ms: for genomlab the Python driver plus its children (the Hail/Spark JVM, bcftools); for
plink2 the plink2 process. Timings are noisy on a shared machine: compare the ratios of one run.

    .venv/bin/python benchmarks/qc_scale.py [--sizes 100000 1000000] [--samples 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genomlab.process_memory import PeakTreeRss

PLINK2 = "/usr/bin/plink2"
THREADS = ["--threads", "2", "--memory", "4000"]


def make_vcf(folder: Path, n_samples: int, n_variants: int) -> Path:
    """A GT-only cohort VCF from ``plink2 --dummy``, variants spread evenly over chr1–22."""
    dummy = folder / "dummy"
    subprocess.run([PLINK2, *THREADS, "--dummy", str(n_samples), str(n_variants), "0.01",
                    "acgt", "--make-pgen", "--out", str(dummy)], check=True,
                   capture_output=True)
    pvar = Path(f"{dummy}.pvar")
    lines = [line for line in pvar.read_text().splitlines() if not line.startswith("#")]
    per_contig = -(-len(lines) // 22)
    rows = []
    for k, line in enumerate(lines):
        fields = line.split("\t")
        contig, position = k // per_contig + 1, (k % per_contig) * 100 + 10_001
        rows.append("\t".join([str(contig), str(position), f"v{k}", *fields[3:]]))
    pvar.write_text("#CHROM\tPOS\tID\tREF\tALT\n" + "\n".join(rows) + "\n")
    vcf = folder / "cohort"
    subprocess.run([PLINK2, *THREADS, "--pfile", str(dummy), "--export", "vcf", "bgz",
                    "--out", str(vcf)], check=True, capture_output=True)
    return Path(f"{vcf}.vcf.gz")


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak tree RSS in bytes, stdout) of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = PeakTreeRss(proc.pid)
    out, err = proc.communicate()
    seconds, peak = time.perf_counter() - start, sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {(err or out)[-2000:]}")
    return seconds, peak, out


def run_plink2(vcf: Path, work: Path) -> dict[str, float]:
    steps = {
        "vcf → pgen": ["--vcf", str(vcf), "--make-pgen", "--out", str(work / "cohort")],
        "freq/missing/hardy/het": ["--pfile", str(work / "cohort"), "--freq", "--missing",
                                   "--hardy", "midp", "--het", "--out", str(work / "qc")],
        "KING + PCA (20,000 variants)": [
            "--pfile", str(work / "cohort"), "--autosome", "--maf", "0.01", "--thin-count",
            "20000", "--seed", "1", "--make-king-table", "--pca", "10", "--out",
            str(work / "rel")],
    }
    figures: dict[str, float] = {"peak_rss": 0.0}
    for name, args in steps.items():
        seconds, peak, _ = run_measured([PLINK2, *THREADS, *args])
        figures[name] = seconds
        figures["peak_rss"] = max(figures["peak_rss"], peak)
    figures["basic"] = figures["vcf → pgen"] + figures["freq/missing/hardy/het"]
    figures["total"] = figures["basic"] + figures["KING + PCA (20,000 variants)"]
    return figures


def run_genomlab_child(vcf: Path, work: Path) -> None:
    """Child process: start Hail, run the QC, print one JSON line."""
    from genomlab.config import load_config
    from genomlab.hail_session import init_hail
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    start = time.perf_counter()
    hl = init_hail(load_config(environ={"GENOMLAB_HOME": str(work / "home")}),
                   master="local[2]")
    init = time.perf_counter() - start
    start = time.perf_counter()
    result = run_cohort_qc(hl, work / "qc", vcf=vcf)
    print(json.dumps({"init": init, "qc": time.perf_counter() - start,
                      "steps": result.timings}))


def run_genomlab(vcf: Path, work: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(vcf), str(work)]
    _, peak, out = run_measured(cmd)
    record = json.loads(out.strip().splitlines()[-1])
    print("  genomlab steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in record["steps"].items()),
          flush=True)
    return {"init": record["init"], "total": record["qc"], "peak_rss": float(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_genomlab_child(*args.child)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="qc-scale-") as tmp:
        for n_variants in args.sizes:
            folder = Path(tmp) / str(n_variants)
            (folder / "plink2").mkdir(parents=True)
            start = time.perf_counter()
            vcf = make_vcf(folder, args.samples, n_variants)
            print(f"{args.samples} × {n_variants:,}: VCF made in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            plink2 = run_plink2(vcf, folder / "plink2")
            ours = run_genomlab(vcf, folder / "genomlab")
            rows.append((n_variants, plink2, ours))
    mib = 2**20
    print(f"\n{'variants':>10} | {'plink2 basic':>12} {'+KING/PCA':>10} {'peak MiB':>9} | "
          f"{'genomlab':>9} {'peak MiB':>9} {'Hail init':>9} | {'time/basic':>10} "
          f"{'time/all':>8}")
    for n_variants, plink2, ours in rows:
        print(f"{n_variants:>10,} | {plink2['basic']:>10.1f} s {plink2['total']:>8.1f} s "
              f"{plink2['peak_rss'] / mib:>9.0f} | {ours['total']:>7.1f} s "
              f"{ours['peak_rss'] / mib:>9.0f} {ours['init']:>7.1f} s | "
              f"{ours['total'] / plink2['basic']:>9.2f}× {ours['total'] / plink2['total']:>7.2f}×")
    if len(rows) >= 2:
        first, last = rows[0][2], rows[-1][2]
        print(f"\ngenomlab peak memory {rows[-1][0]:,} / {rows[0][0]:,} variants: "
              f"{last['peak_rss'] / first['peak_rss']:.2f}× (goal ≤ 1.5×)")
    print("time ratios: genomlab QC (Hail start-up excluded) / plink2 (goal ≤ 2×); "
          "peak = RSS of the driver process tree (Python + Hail JVM + bcftools).")


if __name__ == "__main__":
    main()
