"""Benchmark: GRZ intake of ~2,000 synthetic submissions.

1. Metadata validation + intake bookkeeping per submission, without genotypes: grz-pydantic-models
   validation, sha256/size of every file, tanG-reuse check and the ledger events
   (received, validated, pseudonymised incl. the trust-centre exchange), all in SQLite.
2. Genotype append per sample: the append-only batch store (one new MatrixTable per append)
   against the naive approach (read the whole cohort MatrixTable, ``union_cols`` the new
   samples, rewrite everything), over the same sequence of appends.

Run: ``.venv/bin/python benchmarks/intake_submissions.py [--patients 1700] [--appends 8]``.
Figures are noisy on a shared 2-core machine; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path


def _bookkeeping(config, world: Path) -> tuple[int, list[float], list[float], dict]:
    from genomlab.genome_center.intake import GenomeCenter
    from genomlab.genome_center.metadata import validate_metadata_text
    from genomlab.intake import (
        get_pseudonym_service,
        register_world_nodes,
        request_world_case_numbers,
    )

    truth = json.loads((world / "truth.json").read_text())
    register_world_nodes(config, world, actor="bench")
    started = time.perf_counter()
    n_refs = request_world_case_numbers(config, world)
    case_numbers_s = time.perf_counter() - started
    service = get_pseudonym_service(config)
    validate_only, full = [], []
    checked = {}
    for node in truth["institutions"]["grz"]:
        grz = GenomeCenter(config, node)
        for sub in sorted(truth["submissions"], key=lambda s: s["path"]):
            if sub["grz"] != node:
                continue
            directory = world / sub["path"]
            text = (directory / "metadata" / "metadata.json").read_text()
            t0 = time.perf_counter()
            validate_metadata_text(text, source=directory.name)
            validate_only.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = grz._receive_and_validate(directory)
            if result is not None:
                grz._pseudonymise(directory.name, result, service)
            full.append(time.perf_counter() - t0)
            checked[(node, directory.name)] = result
    figures = {"case numbers requested": n_refs, "case numbers s": case_numbers_s}
    return len(full), validate_only, full, {"checked": checked, **figures}


def _sources(config, world: Path, checked: dict, node: str) -> list[list]:
    from genomlab.genome_center.intake import GenomeCenter

    grz = GenomeCenter(config, node)
    donors: dict[str, list[dict]] = {}
    for row in grz.get_donors():
        donors.setdefault(row["inbox_id"], []).append(row)
    per_submission, seen = [], set()
    for (owner, inbox_id), result in sorted(checked.items()):
        if owner != node or result is None:
            continue
        sources = [s for s in grz._sources_of(world / "submissions" / inbox_id, result,
                                              donors[inbox_id]) if s.pseudonym not in seen]
        seen.update(s.pseudonym for s in sources)
        per_submission.append(sources)
    return per_submission


def _append_benchmark(hl, chunks: list[list], scratch: Path) -> tuple[list, list]:
    from genomlab.genome_center import genotypes

    genotypes.write_batch(hl, chunks[0][:2], scratch / "warmup", "w", scratch / "tmp")
    batched, naive = [], []
    cohort = None
    for k, chunk in enumerate(chunks):
        t0 = time.perf_counter()
        genotypes.write_batch(hl, chunk, scratch / "batches", f"b{k:03d}", scratch / "tmp")
        batched.append((len(chunk), time.perf_counter() - t0))
        t0 = time.perf_counter()
        genotypes.write_batch(hl, chunk, scratch / "naive-new", f"n{k:03d}", scratch / "tmp")
        new = hl.read_matrix_table(str(scratch / "naive-new" / f"n{k:03d}.mt"))
        if cohort is not None:
            new = hl.read_matrix_table(cohort).union_cols(new, row_join_type="outer")
        cohort = str(scratch / f"cohort-{k:03d}.mt")
        new.write(cohort, overwrite=True)
        naive.append((new.count_cols(), time.perf_counter() - t0))
    return batched, naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1700,
                        help="Index patients of the generated world (1700 → ~2,000 submissions).")
    parser.add_argument("--variants", type=int, default=1000, help="Sites per VCF.")
    parser.add_argument("--appends", type=int, default=8, help="Genotype appends to time.")
    parser.add_argument("--per-append", type=int, default=25,
                        help="Submissions per genotype append.")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from genomlab.config import load_config
    from genomlab.hail_session import init_hail
    from genomlab.samples.world import generate_world

    root = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    world = root / "world"
    t0 = time.perf_counter()
    generate_world(world, n_patients=args.patients, n_variants=args.variants, seed=11)
    print(f"world: {args.patients} patients generated in {time.perf_counter() - t0:.1f} s")
    config = load_config(environ={"GENOMLAB_HOME": str(root / "home")})

    n, validate_only, full, info = _bookkeeping(config, world)
    total = sum(full)
    print(f"\n1. metadata validation + bookkeeping, {n} submissions (no genotypes)")
    print(f"   case numbers for {info['case numbers requested']} donors/records at the trust "
          f"centre: {info['case numbers s']:.1f} s")
    print(f"   grz-pydantic-models validation alone: median "
          f"{statistics.median(validate_only) * 1e3:.1f} ms per submission")
    print(f"   validation + files + ledger events + pseudonym exchange: median "
          f"{statistics.median(full) * 1e3:.1f} ms, total {total:.1f} s "
          f"({n / total:.0f} submissions/s)")

    hl = init_hail(config)
    node = max({k[0] for k in info["checked"]},
               key=lambda g: sum(1 for k in info["checked"] if k[0] == g))
    per_submission = _sources(config, world, info["checked"], node)
    chunks = [list(itertools.chain.from_iterable(
        per_submission[i * args.per_append:(i + 1) * args.per_append]))
        for i in range(args.appends)]
    chunks = [c for c in chunks if c]
    batched, naive = _append_benchmark(hl, chunks, root / "append")
    print(f"\n2. genotype append, {len(chunks)} appends of {args.per_append} submissions "
          f"({args.variants} sites)")
    print("   append  new samples  batch store s  naive rewrite s  (cohort size)  ratio")
    for k, ((new, b), (size, w)) in enumerate(zip(batched, naive, strict=True)):
        print(f"   {k + 1:>6}  {new:>11}  {b:>13.1f}  {w:>15.1f}  {size:>13}  {w / b:>5.1f}x")
    last_b, last_n = batched[-1], naive[-1]
    print(f"   per sample at the last append: batch {last_b[1] / last_b[0] * 1e3:.0f} ms, "
          f"naive {last_n[1] / last_b[0] * 1e3:.0f} ms "
          f"({last_n[1] / last_b[1]:.1f}x); the naive cost grows with the cohort, "
          "the batch cost with the new samples only")
    t0 = time.perf_counter()
    from genomlab.genome_center.genotypes import union_batches

    paths = sorted(str(p) for p in (root / "append" / "batches").glob("*.mt"))
    n_cols = union_batches(hl, paths).count_cols()
    print(f"   read-time union of {len(paths)} batches ({n_cols} samples): "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
