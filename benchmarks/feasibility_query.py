"""Feasibility query over a 2,000-person world: the precomputed index vs scanning per query.

Run: ``.venv/bin/python benchmarks/feasibility_query.py [n_persons] [n_variants]``
(defaults 2000 and 100000, three GRZs and three KDKs).

genomlab answers from the feasibility index (in the data service's store, built once when the
nodes report) with cached numpy masks, audits the answer against every earlier answer of the
requester (pairs and three-query combinations) and records it in the data service's ledger.
The naive reference does what a service without an index does per query: read every clinical
record (JSON) and, for a variant, each GRZ's genotype matrix from disk. Both must give the
same counts.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from genomlab.config import load_config
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index, load_feasibility_index

GRZS = ("GRZK00001", "GRZTUE002", "GRZHD0003")
KDKS = ("KDKK00001", "KDKTUE005", "KDKHD0002")
HPO = [f"HP:{i:07d}" for i in range(1, 200)]
ICD = [f"{c}{i:02d}.{j}" for c in "CGQ" for i in range(10, 40) for j in range(3)]


class GenomeNode:
    def __init__(self, node_id: str, attributes: pl.DataFrame, genotypes: Path,
                 variants: list[str]) -> None:
        self.node_id, self._attributes, self._genotypes = node_id, attributes, genotypes
        self._variants = variants

    def get_dataset_attributes(self) -> pl.DataFrame:
        return self._attributes

    def get_site_counts(self) -> pl.DataFrame:
        carriers = (np.load(self._genotypes) > 0).sum(axis=1)
        return pl.DataFrame({"variant": self._variants, "n_carriers": carriers.astype(np.int64)}
                            ).filter(pl.col("n_carriers") > 0)

    def export_cohort_genotypes(self, hl: Any, pseudonyms: Sequence[str]) -> Any:
        raise NotImplementedError("not needed for feasibility")


class ClinicalNode:
    def __init__(self, node_id: str, attributes: pl.DataFrame) -> None:
        self.node_id, self._attributes = node_id, attributes

    def get_dataset_attributes(self) -> pl.DataFrame:
        return self._attributes

    def read_fields(self, pseudonyms: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        raise NotImplementedError("not needed for feasibility")


def make_world(n: int, n_variants: int, out: Path, seed: int = 7
               ) -> tuple[list[GenomeNode], list[ClinicalNode], list[Path], list[str]]:
    rng = np.random.default_rng(seed)
    node = rng.integers(0, 3, n)
    base = {
        "pseudonym": [f"GDP1-{i:08x}" for i in range(n)],
        "disease_type": rng.choice(["rare", "oncological", "hereditary"], n).tolist(),
        "library_type": rng.choice(["wgs", "wes", "panel"], n, p=[.6, .3, .1]).tolist(),
        "sex": rng.choice(["female", "male"], n).tolist()}
    variants = [f"chr{1 + i % 22}:{1000 + i}:A:G" for i in range(n_variants)]
    frequency = rng.beta(0.3, 3, n_variants)
    genomes, clinicals, record_files = [], [], []
    for k, grz in enumerate(GRZS):
        rows = np.flatnonzero(node == k)
        attributes = pl.DataFrame({key: [v[i] for i in rows] for key, v in base.items()})
        calls = (rng.random((n_variants, len(rows))) < frequency[:, None]).astype(np.int8)
        path = out / f"{grz}.npy"
        np.save(path, calls)
        genomes.append(GenomeNode(grz, attributes, path, variants))
        records = {**{key: [v[i] for i in rows] for key, v in base.items()},
                   "birth_date": [f"{rng.integers(1940, 2024)}-{rng.integers(1, 13):02d}"
                                  for _ in rows],
                   "icd10gm": [rng.choice(ICD, rng.integers(1, 3)).tolist() for _ in rows],
                   "hpo": [rng.choice(HPO, rng.integers(0, 6)).tolist() for _ in rows]}
        records["pseudonym"] = [f"KDP1-{i:08x}" for i in rows]
        frame = pl.DataFrame(records)
        clinicals.append(ClinicalNode(KDKS[k], frame))
        record_file = out / f"{KDKS[k]}.jsonl"
        record_file.write_text("\n".join(json.dumps(r) for r in frame.to_dicts()))
        record_files.append(record_file)
    return genomes, clinicals, record_files, variants


def naive_count(record_files: list[Path], hpo: str, disease: str) -> dict[str, int]:
    counts = {}
    for path, kdk in zip(record_files, KDKS, strict=True):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        counts[kdk] = sum(1 for r in records if hpo in r["hpo"] and r["disease_type"] == disease)
    return counts


def naive_carriers(genomes: list[GenomeNode], variants: list[str], variant: str
                   ) -> dict[str, int]:
    row = variants.index(variant)
    return {g.node_id: int((np.load(g._genotypes)[row] > 0).sum()) for g in genomes}


def timed(fn: Any, repeat: int = 5) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(n: int = 2000, n_variants: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # one requester asks 200+ queries: above the default budget (100 per 30 days)
        config = load_config(environ={"GENOMLAB_HOME": str(out / "home"),
                                      "GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET": "1000"})
        genomes, clinicals, record_files, variants = make_world(n, n_variants, out)
        start = time.perf_counter()
        build_feasibility_index(config, genomes, clinicals, on=date(2026, 11, 1))
        print(f"index build (once per node report): {time.perf_counter() - start:.2f} s "
              f"for {n} persons, {n_variants} variants x {len(GRZS)} GRZs")

        hpo, variant = HPO[3], variants[12345 % n_variants]
        request = make_request(["diseaseType:rare", hpo], granularity="count")
        start = time.perf_counter()
        first = run_feasibility_query(config, request, user="bench")
        cold = time.perf_counter() - start
        # 200 earlier answers to audit against (different filters each)
        for i in range(200):
            run_feasibility_query(config, make_request([f"HP:{1 + i % 199:07d}",
                                                        "diseaseType:oncological"],
                                                       granularity="count"), user="bench")
        warm, _ = timed(lambda: run_feasibility_query(config, request, user="bench"))
        naive, expected = timed(lambda: naive_count(record_files, hpo, "rare"), repeat=3)
        got = {r["id"]: r["resultsCount"] for r in first["response"]["resultSets"]}
        assert all(got[k] == (v if v >= 10 else "<10") for k, v in expected.items() if v), got
        print(f"person query, first (loads index): {cold * 1000:.1f} ms")
        print(f"person query, audited against 200 earlier answers: {warm * 1000:.1f} ms")
        print(f"naive (read every record per query): {naive * 1000:.1f} ms  "
              f"ratio {naive / warm:.1f}x")

        vrequest = make_request([], variant=variant, granularity="count")
        vwarm, vanswer = timed(lambda: run_feasibility_query(config, vrequest, user="bench"))
        vnaive, vexpected = timed(lambda: naive_carriers(genomes, variants, variant), repeat=2)
        vgot = {r["id"]: r["resultsCount"] for r in vanswer["response"]["resultSets"]}
        assert all(vgot[k] == (v if v >= 10 else "<10") for k, v in vexpected.items() if v)
        print(f"variant query (sites index): {vwarm * 1000:.1f} ms")
        print(f"naive (read each GRZ's genotype matrix per query): {vnaive * 1000:.1f} ms  "
              f"ratio {vnaive / vwarm:.1f}x")
        index = load_feasibility_index(config)
        print(f"index: {index.genome.height} genome, {index.clinical.height} clinical datasets, "
              f"{index.sites.height} sites; goal < 1 s per query: "
              f"{'met' if max(cold, warm, vwarm) < 1 else 'NOT met'}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
