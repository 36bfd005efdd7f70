"""Cohort QC as variants grow tenfold: genomlab's peak driver memory and wall time beside plink2.

One run, two cohort VCFs made fast by plink2 (``--dummy``, positions spread over chr1–22, then
``--export vcf bgz``; GT only): 1,000 samples × 100,000 variants and 1,000 × 1,000,000
(``--samples``, ``--sizes``); ``--cache DIR`` keeps the VCFs for the next run. On each VCF:

- **plink2**, the comparable work (the commands are printed): VCF → pgen; ``--freq --missing
  --hardy midp --het`` (the per-variant and per-sample metrics); ``--make-king-table`` and
  ``--pca 10`` on autosomal MAF ≥ 1 % variants thinned to 20,000 (genomlab's
  ``qc_max_variants``). "basic" is the first two steps, "comparable" all three: genomlab does
  the three and more (HWE within ancestry groups, sex check, Mendel errors, ancestry groups,
  outlier rules, plots).
- **genomlab**: ``run_cohort_qc`` in a fresh process, VCF in, all tables and plots out. On a
  local master the VCF is streamed without Hail, so Spark is not started (``run_cohort_qc``
  gets a starter); Hail's start-up, which a Hail-engine run would add, is measured in a
  process of its own and printed apart.

Peak memory is the largest sum of resident memory (RSS) over the process tree, sampled every
50 ms: for genomlab the Python driver plus its children (plink2 or bcftools for the conversion);
for plink2 the plink2 process. Timings are noisy on a shared machine: compare the ratios of one
run, and note the load (printed from ``os.getloadavg``).

    .venv/bin/python benchmarks/qc_scale.py [--sizes 100000 1000000] [--samples 1000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
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


def get_plink2_steps(vcf: Path, work: Path) -> dict[str, list[str]]:
    """The plink2 commands of the comparable QC, by step."""
    return {
        "vcf → pgen": [PLINK2, *THREADS, "--vcf", str(vcf), "--make-pgen", "--out",
                       str(work / "cohort")],
        "freq/missing/hardy/het": [PLINK2, *THREADS, "--pfile", str(work / "cohort"), "--freq",
                                   "--missing", "--hardy", "midp", "--het", "--out",
                                   str(work / "qc")],
        "KING + PCA (20,000 variants)": [
            PLINK2, *THREADS, "--pfile", str(work / "cohort"), "--autosome", "--maf", "0.01",
            "--thin-count", "20000", "--seed", "1", "--make-king-table", "--pca", "10",
            "--out", str(work / "rel")],
    }


def run_plink2(vcf: Path, work: Path) -> dict[str, float]:
    figures: dict[str, float] = {"peak_rss": 0.0}
    for name, cmd in get_plink2_steps(vcf, work).items():
        seconds, peak, _ = run_measured(cmd)
        figures[name] = seconds
        figures["peak_rss"] = max(figures["peak_rss"], peak)
    figures["basic"] = figures["vcf → pgen"] + figures["freq/missing/hardy/het"]
    figures["total"] = figures["basic"] + figures["KING + PCA (20,000 variants)"]
    return figures


def run_genomlab_child(vcf: Path, work: Path) -> None:
    """Child process: run the QC (Hail only started if the QC needs it), print one JSON line."""
    from genomlab.config import load_config
    from genomlab.hail_session import init_hail
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    config = load_config(environ={"GENOMLAB_HOME": str(work / "home")})
    start = time.perf_counter()
    result = run_cohort_qc(lambda: init_hail(config, master="local[2]"), work / "qc", vcf=vcf,
                           spark_master="local[2]")
    print(json.dumps({"qc": time.perf_counter() - start, "steps": result.timings,
                      "engine": result.provenance.get("engine")}))


def run_hail_start_child(work: Path) -> None:
    """Child process: Hail's start-up on ``local[2]`` alone."""
    from genomlab.config import load_config
    from genomlab.hail_session import init_hail

    start = time.perf_counter()
    hl = init_hail(load_config(environ={"GENOMLAB_HOME": str(work / "home")}),
                   master="local[2]")
    hl.spark_context()
    print(json.dumps({"init": time.perf_counter() - start}))


def run_genomlab(vcf: Path, work: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(vcf), str(work)]
    _, peak, out = run_measured(cmd)
    record = json.loads(out.strip().splitlines()[-1])
    print(f"  genomlab ({record['engine']} engine) steps: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in record["steps"].items()), flush=True)
    return {"total": record["qc"], "peak_rss": float(peak)}


def get_vcf(folder: Path, n_samples: int, n_variants: int) -> Path:
    """The cohort VCF in ``folder``, made unless it is already there (``--cache``)."""
    vcf = folder / "cohort.vcf.gz"
    if vcf.exists():
        print(f"{n_samples} × {n_variants:,}: cached VCF {vcf}", flush=True)
        return vcf
    start = time.perf_counter()
    made = make_vcf(folder, n_samples, n_variants)
    print(f"{n_samples} × {n_variants:,}: VCF made in {time.perf_counter() - start:.0f} s",
          flush=True)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping the generated VCFs between runs")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hail-start-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_genomlab_child(*args.child)
        return
    if args.hail_start_child:
        run_hail_start_child(args.hail_start_child)
        return
    rows = []
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="qc-scale-") as tmp:
        for n_variants in args.sizes:
            cache = (args.cache / f"{args.samples}x{n_variants}" if args.cache
                     else Path(tmp) / f"vcf-{n_variants}")
            cache.mkdir(parents=True, exist_ok=True)
            folder = Path(tmp) / str(n_variants)
            (folder / "plink2").mkdir(parents=True)
            vcf = get_vcf(cache, args.samples, n_variants)
            if not rows:
                print("plink2 commands:")
                for name, cmd in get_plink2_steps(vcf, folder / "plink2").items():
                    print(f"  {name}: {' '.join(cmd)}")
            plink2 = run_plink2(vcf, folder / "plink2")
            ours = run_genomlab(vcf, folder / "genomlab")
            rows.append((n_variants, plink2, ours))
        hail_start = json.loads(subprocess.run(
            [sys.executable, __file__, "--hail-start-child", str(Path(tmp) / "hail")],
            capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])["init"]
    mib = 2**20
    print(f"\n{'variants':>10} | {'plink2 basic':>12} {'comparable':>10} {'peak MiB':>9} | "
          f"{'genomlab':>9} {'peak MiB':>9} | {'/comparable':>11} {'/basic':>7}")
    for n_variants, plink2, ours in rows:
        print(f"{n_variants:>10,} | {plink2['basic']:>10.1f} s {plink2['total']:>8.1f} s "
              f"{plink2['peak_rss'] / mib:>9.0f} | {ours['total']:>7.1f} s "
              f"{ours['peak_rss'] / mib:>9.0f} | {ours['total'] / plink2['total']:>10.2f}× "
              f"{ours['total'] / plink2['basic']:>6.2f}×")
    if len(rows) >= 2:
        first, last = rows[0][2], rows[-1][2]
        print(f"\ngenomlab peak memory {rows[-1][0]:,} / {rows[0][0]:,} variants: "
              f"{last['peak_rss'] / first['peak_rss']:.2f}× (goal ≤ 1.5×)")
    print(f"time ratio goal: genomlab / plink2 comparable ≤ 2×. Hail start-up on local[2] "
          f"(not needed by the streamed engine, measured apart): {hail_start:.1f} s")
    print("peak = RSS of the process tree (genomlab: Python + plink2/bcftools children).")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
