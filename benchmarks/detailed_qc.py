"""Detailed QC seconds per submission (issue 17): fastp, bwa mem (+ samtools sort/index),
mosdepth and the comparison, for the submissions grz-db's ``should_qc`` rule selects in a world
written with detailed-QC reads.

Run: ``.venv/bin/python benchmarks/detailed_qc.py [n_patients] [seed]`` (default 20, 3). Needs
Debian's fastp, bwa, samtools and mosdepth (``.ci/setup --test-tools``). Prints one line per
selected submission (seconds per step, verdict, reads) and the mean per submission; the world's
inflated submissions must fail and every other one pass (else it exits 1).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

from genomlab.genome_center.detailed_qc import find_qc_tools, run_detailed_qc
from genomlab.genome_center.grz_record import GrzDb
from genomlab.samples import generate_world, load_truth

STEPS = ("fastp", "bwa", "mosdepth", "comparison")


def count_reads(folder: Path) -> int:
    """FASTQ records of the index donor's files (R1 + R2, all lab data)."""
    return sum(gzip.decompress(p.read_bytes()).count(b"\n") // 4
               for p in sorted((folder / "files" / "donor_index").glob("*.fastq.gz")))


def main(n_patients: int, seed: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        started = time.monotonic()
        generate_world(world, n_patients=n_patients, n_variants=1000, seed=seed,
                       detailed_qc_reads=True)
        print(f"world: {n_patients} patients, written in {time.monotonic() - started:.1f} s")
        truth = load_truth(world)
        inflated = {x["submission_id"] for x in truth["inflated_submissions"]}
        initial = sorted(s["submission_id"] for s in truth["submissions"]
                         if s["type"] == "initial")
        selected = GrzDb.for_grz(Path(tmp) / "grz").select_initials([  # grz-db's should_qc
            (sid, sid.split("_")[0], dt.date.fromisoformat(sid.split("_")[1]))
            for sid in initial])
        print(f"selected for detailed QC: {len(selected)} of {len(initial)} initial "
              f"submissions ({len(inflated)} inflated); load average "
              f"{os.getloadavg()[0]:.1f}")
        tools = find_qc_tools(Path(tmp) / "tools")
        totals = dict.fromkeys(STEPS, 0.0)
        wrong = []
        print(f"{'submission':32} {'reads':>6} " + " ".join(f"{s:>10}" for s in STEPS)
              + f" {'total':>7}  verdict")
        for sid in selected:
            folder = world / "submissions" / sid
            result = run_detailed_qc(folder, world / "detailed_qc" / "reference.fa",
                                     world / "detailed_qc" / "targets.bed",
                                     Path(tmp) / "work" / sid, tools)
            secs = result.seconds
            for step in STEPS:
                totals[step] += secs.get(step, 0.0)
            verdict = "passed" if result.passed else "FAILED " + ", ".join(result.failing)
            if result.passed == (sid in inflated):
                wrong.append(sid)
            print(f"{sid:32} {count_reads(folder):6d} "
                  + " ".join(f"{secs.get(s, 0.0):10.3f}" for s in STEPS)
                  + f" {sum(secs.values()):7.3f}  {verdict}"
                  + ("  (inflated)" if sid in inflated else ""))
        n = max(1, len(selected))
        print("seconds per submission: " + ", ".join(f"{s} {totals[s] / n:.3f}" for s in STEPS)
              + f", total {sum(totals.values()) / n:.3f}")
        if wrong:
            print(f"WRONG verdicts: {wrong}")
            return 1
    return 0


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    sys.exit(main(*(args + [20, 3][len(args):])))
