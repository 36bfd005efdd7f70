"""Disclosure checks on a GWAS-sized result table: genomlab's vectorised checks vs a naive loop.

Run: ``.venv/bin/python benchmarks/airlock_checks.py [n_variants]``. The naive reference walks
every cell in Python (what a per-cell ACRO-style check does); both must flag the same cells.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import polars as pl

from genomlab.airlock.checks import check_table
from genomlab.config import DisclosureConfig


def make_results(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "variant": [f"1:{i}:A:G" for i in range(n)],
        "beta": rng.normal(size=n), "p_value": rng.uniform(size=n),
        "AC": rng.integers(1, 4000, n), "AN": np.full(n, 4000),
        "n_cases": np.full(n, 800), "n_controls": np.full(n, 1200),
    })


def naive_flagged_rows(table: pl.DataFrame, threshold: int) -> list[int]:
    """Rows whose allele count or its complement is between 1 and threshold − 1, cell by cell."""
    flagged = []
    for row, record in enumerate(table.iter_rows(named=True)):
        ac, an = record["AC"], record["AN"]
        if 0 < ac < threshold or 0 < an - ac < threshold:
            flagged.append(row)
    return flagged


def main(n: int) -> None:
    table = make_results(n)
    disclosure = DisclosureConfig()
    start = time.perf_counter()
    results = check_table(table, disclosure)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    reference = naive_flagged_rows(table, disclosure.min_allele_count)
    slow = time.perf_counter() - start
    variant = next(r for r in results if r.check == "variant_counts")
    assert sorted({c.row for c in variant.cells}) == reference, "results differ"
    print(f"{n:,} variants × 7 columns, {len(reference):,} variants flagged")
    print(f"genomlab check_table (all checks): {fast:8.3f} s  ({n / fast:,.0f} rows/s)")
    print(f"naive per-cell loop (AC rule only): {slow:8.3f} s  ({n / slow:,.0f} rows/s)")
    print(f"ratio naive / genomlab: {slow / fast:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
