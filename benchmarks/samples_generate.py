"""Benchmark: generating a synthetic genomDE world (genomlab.samples).

1. The full world at benchmark size (default 2,000 patients x 100,000 variants): wall time and
   peak RSS of this process and of its bgzip children (goal: < 5 min, < 4 GiB on 2 cores).
2. Per-genotype cost, side by side on the same subset of samples and sites: the vectorised
   path (numpy chunk generation + lookup-table VCF formatting) against a naive per-genotype
   Python loop (random draws, likelihood-based GQ and string formatting for every cell).

Run: ``.venv/bin/python benchmarks/samples_generate.py [--patients N] [--variants M]``.
The machine is shared; absolute figures are noisy, the ratio is the point.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from genomlab.samples import generate_world
from genomlab.samples.cohort import build_cohort
from genomlab.samples.genotypes import (
    KIND_X_NONPAR,
    KIND_Y,
    generate_chunk,
    get_chunks,
    get_variant_sites,
    get_world_genetics,
)
from genomlab.samples.vcf import format_vcf_lines, get_line_prefixes

READ_ERROR = 0.01


def _naive_gq(ref: int, alt: int, called: int, ploidy: int) -> int:
    fractions = (READ_ERROR, 0.5, 1 - READ_ERROR) if ploidy == 2 else (READ_ERROR, 1 - READ_ERROR)
    loglik = [alt * math.log10(f) + ref * math.log10(1 - f) for f in fractions]
    best_other = max(ll for i, ll in enumerate(loglik) if i != called)
    return int(min(99, max(0, round(-10 * (best_other - loglik[called])))))


def naive_vcf_lines(seed: int, n_patients: int, n_variants: int) -> tuple[bytes, int]:
    """Per-genotype Python loop: draw alleles, depth, AD and GQ, format each cell on its own."""
    rnd = random.Random(seed)
    cohort = build_cohort(np.random.default_rng(seed), n_patients)
    sites = get_variant_sites(np.random.default_rng(seed), n_variants)
    persons = cohort.persons
    lines, cells = [], 0
    for v in range(len(sites)):
        p = float(sites.p_anc[v])
        haps: list[tuple[int, int]] = []
        for person in persons:
            if person.father is None:
                haps.append((int(rnd.random() < p), int(rnd.random() < p)))
            else:
                haps.append((haps[person.father][rnd.randrange(2)],
                             haps[person.mother][rnd.randrange(2)]))
        row = []
        for s in cohort.samples:
            h0, h1 = haps[s.person]
            male = persons[s.person].genetic_sex == "male"
            depth = max(8, min(99, round(rnd.gauss(35, 6))))
            haploid = male and sites.kind[v] in (KIND_X_NONPAR, KIND_Y)
            if sites.kind[v] == KIND_Y and not male:
                row.append(".:.:.:.")
            elif haploid:
                alt = depth * h1
                row.append(f"{h1}:{depth - alt},{alt}:{depth}:{_naive_gq(depth - alt, alt, h1, 1)}")
            else:
                dose = h0 + h1
                alt = (depth if dose == 2 else
                       min(max(round(rnd.gauss(depth / 2, math.sqrt(depth) / 2)), 1), depth - 1)
                       if dose == 1 else 0)
                gt = ("0/0", "0/1", "1/1")[dose]
                row.append(f"{gt}:{depth - alt},{alt}:{depth}:"
                           f"{_naive_gq(depth - alt, alt, dose, 2)}")
            cells += 1
        lines.append(f"chr1\t{v + 1}\t.\tA\tG\t.\tPASS\t.\tGT:AD:DP:GQ\t" + "\t".join(row))
    return ("\n".join(lines) + "\n").encode(), cells


def vectorised_vcf_lines(seed: int, n_patients: int, n_variants: int) -> tuple[bytes, int]:
    """The generator's own path on the same subset: chunked numpy draws, table formatting."""
    rng = np.random.default_rng(seed)
    cohort = build_cohort(rng, n_patients)
    sites = get_variant_sites(rng, n_variants)
    genetics = get_world_genetics(rng, cohort, sites)
    out, cells = [], 0
    for lo, hi in get_chunks(sites):
        chunk = generate_chunk(rng, sites, lo, hi, cohort, genetics)
        out.append(format_vcf_lines(get_line_prefixes(sites, lo, hi), chunk.cells))
        cells += chunk.cells.size
    return b"".join(out), cells


def _peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--subset-patients", type=int, default=100)
    parser.add_argument("--subset-variants", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=None,
                        help="Where to write the world (default: a temporary directory).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "world"
        start = time.perf_counter()
        summary = generate_world(out, n_patients=args.patients, n_variants=args.variants,
                                 seed=args.seed)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    cells = summary.n_samples * summary.n_variants
    print(f"full world: {summary.n_patients} patients, {summary.n_samples} samples x "
          f"{summary.n_variants} variants = {cells / 1e6:.0f} M genotypes, "
          f"{summary.n_files} files, {size / 2**20:.0f} MiB")
    self_cpu = resource.getrusage(resource.RUSAGE_SELF)
    child_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_self = self_cpu.ru_utime + self_cpu.ru_stime
    cpu_children = child_cpu.ru_utime + child_cpu.ru_stime
    print(f"  wall time      {seconds:8.1f} s   (goal < 300 s; the machine is shared)")
    print(f"  CPU time       {cpu_self:8.1f} s in Python, {cpu_children:.1f} s in bgzip/tabix")
    print(f"  idle 2-core estimate {max(cpu_self, (cpu_self + cpu_children) / 2):6.1f} s "
          "(Python is one thread; bgzip runs beside it)")
    print(f"  peak RSS self  {_peak_rss_mib(resource.RUSAGE_SELF):8.0f} MiB (goal < 4096 MiB)")
    print(f"  peak RSS child {_peak_rss_mib(resource.RUSAGE_CHILDREN):8.0f} MiB "
          "(largest child: bgzip, tabix)")
    print(f"  throughput     {cells / seconds / 1e6:8.2f} M genotypes/s end to end")

    sub = (args.seed, args.subset_patients, args.subset_variants)
    start = time.perf_counter()
    _, fast_cells = vectorised_vcf_lines(*sub)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    _, slow_cells = naive_vcf_lines(*sub)
    slow = time.perf_counter() - start
    fast_rate, slow_rate = fast_cells / fast, slow_cells / slow
    print(f"subset {args.subset_patients} patients x {args.subset_variants} variants "
          "(genotype generation + VCF text, no compression):")
    print(f"  vectorised     {fast:8.2f} s  {fast_rate / 1e6:8.2f} M genotypes/s")
    print(f"  naive loop     {slow:8.2f} s  {slow_rate / 1e6:8.2f} M genotypes/s")
    print(f"  ratio          {fast_rate / slow_rate:8.1f}x faster per genotype")
    print(f"  naive loop extrapolated to the full world: {cells / slow_rate / 60:.0f} min")


if __name__ == "__main__":
    main()
