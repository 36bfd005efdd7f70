"""Cohort QC wall time: genomlab's pipeline vs plink2 vs the naive Hail-tutorial way.

One run on the same VCF (default: a synthetic world of ~2,000 samples × 100,000 variants made by
``genomlab.samples``):

- **genomlab**: ``run_cohort_qc`` — VCF in, sample_qc/variant_qc/relatedness/PCA tables and PNG
  plots out (local mode: the VCF streamed through bcftools into a .bed and the entry
  statistics, no MatrixTable and no Spark; QC passes streamed over the packed .bed; numpy/BLAS
  kernels).
- **plink2**: VCF → pgen, then ``--freq --missing --hardy --het`` and, on MAF ≥ 1 % autosomal
  variants, ``--make-king-table`` and ``--pca 10``. Debian's plink2 2.00a3.5 has no
  ``--check-sex`` (added in later alphas), so plink2 does slightly less work than the others.
- **naive Hail** (the GWAS-tutorial way): import + write MT, then ``hl.sample_qc``,
  ``hl.variant_qc``, ``hl.impute_sex``, ``hl.king`` and ``hl.hwe_normalized_pca``, each collected
  to pandas. Capped by ``--naive-timeout``; a capped run reports a lower bound.

Hail start-up (``hl.init``) is excluded from both Hail figures and printed separately (the
genomlab run does not start Hail at all on a local master). The plink2 commands are printed.

    .venv/bin/python benchmarks/qc_vs_plink2.py [--world DIR] [--naive-timeout 3600]
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

PLINK2 = "/usr/bin/plink2"


def ensure_world(world: Path, n_patients: int, n_variants: int, seed: int) -> Path:
    vcf = world / "genotypes" / "cohort.vcf.bgz"
    if not vcf.exists():
        from genomlab.samples import generate_world

        print(f"generating a world of {n_patients} patients × {n_variants} variants in {world}",
              flush=True)
        start = time.perf_counter()
        generate_world(world, n_patients=n_patients, n_variants=n_variants, seed=seed)
        print(f"  generated in {time.perf_counter() - start:.0f} s", flush=True)
    return vcf


def _start_hail(home: Path) -> tuple[object, float]:
    from genomlab.config import load_config
    from genomlab.hail_session import init_hail

    start = time.perf_counter()
    hl = init_hail(load_config(environ={"GENOMLAB_HOME": str(home),
                                        "GENOMLAB_SPARK__DRIVER_MEMORY": "8g"}),
                   master="local[2]")
    return hl, time.perf_counter() - start


def run_genomlab(vcf: Path, work: Path) -> dict[str, float]:
    """Child process: the genomlab pipeline; prints one JSON line of timings. Hail gets a
    starter: on a local master the VCF is streamed and Spark never starts; if the QC needs
    Hail, its start-up is the "Hail start-up" step, excluded from the total."""
    from genomlab.config import load_config
    from genomlab.hail_session import init_hail
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    config = load_config(environ={"GENOMLAB_HOME": str(work / "home"),
                                  "GENOMLAB_SPARK__DRIVER_MEMORY": "8g"})
    start = time.perf_counter()
    result = run_cohort_qc(lambda: init_hail(config, master="local[2]"), work / "qc", vcf=vcf,
                           spark_master="local[2]")
    init = result.timings.get("Hail start-up", 0.0)
    total = time.perf_counter() - start - init
    return {"init": init, "total": total, **result.timings}


def run_naive(vcf: Path, work: Path) -> dict[str, float]:
    """Child process: the Hail-tutorial way, printing each step's time as it completes."""
    hl, init = _start_hail(work / "home")
    print(json.dumps({"step": "init", "seconds": init}), flush=True)
    steps = {}
    start = time.perf_counter()

    def step(name: str, fn: object) -> object:
        t = time.perf_counter()
        value = fn()  # type: ignore[operator]
        steps[name] = time.perf_counter() - t
        print(json.dumps({"step": name, "seconds": steps[name]}), flush=True)
        return value

    mt_path = str(work / "naive.mt")
    step("import_vcf + write", lambda: hl.import_vcf(  # type: ignore[attr-defined]
        str(vcf), reference_genome="GRCh38", force_bgz=True).write(mt_path, overwrite=True))
    mt = hl.read_matrix_table(mt_path)  # type: ignore[attr-defined]
    step("sample_qc", lambda: hl.sample_qc(mt).cols().to_pandas())  # type: ignore[attr-defined]
    step("variant_qc", lambda: hl.variant_qc(mt).rows().to_pandas())  # type: ignore[attr-defined]
    gt = mt.GT  # haploid male chrX/chrY calls: impute_sex needs diploid calls
    diploid = mt.annotate_entries(GT=hl.if_else(  # type: ignore[attr-defined]
        gt.ploidy == 1, hl.call(gt[0], gt[0]), gt))  # type: ignore[attr-defined]
    step("impute_sex", lambda: hl.impute_sex(diploid.GT).to_pandas())  # type: ignore[attr-defined]
    auto = mt.filter_rows(mt.locus.in_autosome())
    step("hwe_normalized_pca", lambda: hl.hwe_normalized_pca(  # type: ignore[attr-defined]
        auto.GT, k=10)[1].to_pandas())
    step("king", lambda: hl.king(auto.GT).entries().to_pandas())  # type: ignore[attr-defined]
    return {"init": init, "total": time.perf_counter() - start, **steps}


def run_plink2(vcf: Path, work: Path) -> dict[str, float]:
    fam = vcf.parent / "cohort.fam"
    sex = work / "sex.txt"
    rows = [line.split() for line in fam.read_text().splitlines() if line.strip()]
    sex.write_text("#IID\tSEX\n" + "".join(f"{r[1]}\t{r[4]}\n" for r in rows))
    common = [PLINK2, "--threads", "2", "--memory", "4000"]
    commands = {
        "vcf → pgen": [*common, "--vcf", str(vcf), "--split-par", "hg38", "--update-sex",
                       str(sex), "--make-pgen", "--out", str(work / "cohort")],
        "freq/missing/hardy/het": [
            *common, "--pfile", str(work / "cohort"), "--freq", "--missing", "--hardy", "midp",
            "--het", "--out", str(work / "qc")],
        "KING + PCA (MAF ≥ 1 %, autosomes)": [
            *common, "--pfile", str(work / "cohort"), "--autosome", "--maf", "0.01",
            "--make-king-table", "--pca", "10", "--out", str(work / "rel")],
    }
    times = {}
    for name, cmd in commands.items():
        print(f"  plink2 {name}: {' '.join(cmd)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        times[name] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"plink2 failed ({name}): {done.stdout[-2000:]}")
    return {"total": sum(times.values()), **times}


def _child(mode: str, vcf: Path, work: Path, timeout: float | None) -> dict[str, float]:
    """Run a Hail mode in a fresh process (fresh JVM); collect its JSON lines."""
    cmd = [sys.executable, __file__, "--child", mode, "--vcf", str(vcf), "--work", str(work)]
    steps: dict[str, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        timed_out = True
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "step" in record:
                steps[record["step"]] = record["seconds"]
            else:
                steps.update(record)
    if timed_out:
        steps["timed_out"] = 1.0
        steps["total"] = time.perf_counter() - start - steps.get("init", 0.0)
    elif proc.returncode != 0:
        print(f"{mode} run failed with exit {proc.returncode}; steps done: {steps}")
        steps["timed_out"] = 1.0
        steps["total"] = time.perf_counter() - start - steps.get("init", 0.0)
    return steps


def _print(name: str, figures: dict[str, float]) -> None:
    print(f"\n{name}: total {figures['total']:.1f} s"
          + (" (capped: a lower bound)" if figures.get("timed_out") else ""))
    for step, seconds in figures.items():
        if step not in ("total", "timed_out"):
            print(f"  {seconds:8.1f} s  {step}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=Path(tempfile.gettempdir())
                        / "genomlab-bench-world")
    parser.add_argument("--patients", type=int, default=1050, help="~1.9 samples per patient")
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--naive-timeout", type=float, default=3600.0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--child", choices=["genomlab", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--vcf", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.work.mkdir(parents=True, exist_ok=True)
        runner = run_genomlab if args.child == "genomlab" else run_naive
        print(json.dumps(runner(args.vcf, args.work)), flush=True)
        return

    vcf = ensure_world(args.world, args.patients, args.variants, args.seed)
    header = subprocess.run(["bash", "-c", f"zcat {vcf} | grep -m1 '^#CHROM'"],
                            capture_output=True, text=True).stdout
    n_samples = len(header.split("\t")) - 9
    print(f"VCF {vcf}: {n_samples} samples × {args.variants} variants", flush=True)
    with tempfile.TemporaryDirectory(prefix="qc-bench-") as tmp:
        root = Path(tmp)
        (root / "plink2").mkdir()
        plink2 = run_plink2(vcf, root / "plink2")
        _print("plink2", plink2)
        ours = _child("genomlab", vcf, root / "genomlab", None)
        _print("genomlab run_cohort_qc (VCF in, tables + plots out)", ours)
        naive = None
        if not args.skip_naive:
            naive = _child("naive", vcf, root / "naive", args.naive_timeout)
            _print("naive Hail (tutorial way)", naive)
    print("\nload average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("ratios (wall time, Hail start-up excluded):")
    print(f"  genomlab / plink2      = {ours['total'] / plink2['total']:.1f}×  (goal ≤ 3×)")
    if naive is not None:
        bound = "≥ " if naive.get("timed_out") else ""
        print(f"  naive Hail / genomlab  = {bound}{naive['total'] / ours['total']:.1f}×  "
              f"(goal ≥ 5×)")


if __name__ == "__main__":
    main()
