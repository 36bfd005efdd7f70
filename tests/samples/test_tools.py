"""The planted faults as reference tools see them (Debian's bcftools and plink2).

Debian's plink2 (2.00a3.5) has neither ``--check-sex`` nor ``--mendel``: the sex check uses
PLINK's rule (chrX inbreeding F > 0.8 male, < 0.2 female) on bcftools-queried genotypes, and
Mendel errors come from ``bcftools +mendelian``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tools

#: KING-robust kinship cut-offs (Manichaikul et al. 2010): duplicate > 0.354, first degree
#: > 0.177, third degree > 0.0884.
KING_DUPLICATE = 0.354
KING_FIRST_DEGREE = 0.177
KING_THIRD_DEGREE = 0.0884
#: PLINK --check-sex defaults.
MALE_F = 0.8
FEMALE_F = 0.2


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def test_bcftools_stats__reads_every_vcf(world: Path) -> None:
    vcfs = sorted(world.rglob("*.vcf.bgz")) + sorted(world.rglob("*.vcf.gz"))
    assert len(vcfs) > 50
    for vcf in vcfs:
        out = _run("bcftools", "stats", str(vcf))
        records = next(int(line.split("\t")[-1]) for line in out.splitlines()
                       if line.startswith("SN\t0\tnumber of records:"))
        assert records > 0, vcf


def _x_inbreeding(world: Path) -> dict[str, float]:
    vcf = str(world / "genotypes" / "cohort.vcf.bgz")
    names = _run("bcftools", "query", "-l", vcf).split()
    text = _run("bcftools", "query", "-r", "chrX:2781480-155701382", "-f", "[%GT\t]\n", vcf)
    gts = np.array([line.rstrip("\t").split("\t") for line in text.splitlines()])
    alt = np.char.count(gts, "1").astype(float)
    n_alleles = np.where(np.isin(gts, ["0", "1"]), 1, np.where(np.char.find(gts, "/") > 0, 2, 0))
    called = ~np.isin(gts, ["./.", "."])
    p = alt.sum(axis=1) / n_alleles.sum(axis=1)
    keep = (p > 0.01) & (p < 0.99)
    expected_het = (2 * p * (1 - p))[keep, None] * called[keep]
    observed_het = (gts[keep] == "0/1").astype(float)
    f = 1 - observed_het.sum(axis=0) / expected_het.sum(axis=0)
    return dict(zip(names, f.tolist(), strict=True))


def test_check_sex__flags_exactly_the_planted_mismatches(world: Path, truth: dict) -> None:
    fam = {line.split("\t")[1]: line.split("\t")[4]
           for line in (world / "genotypes" / "cohort.fam").read_text().splitlines()}
    flagged = set()
    for sample, f in _x_inbreeding(world).items():
        called = "1" if f > MALE_F else "2" if f < FEMALE_F else "0"
        if called != fam[sample]:
            flagged.add(sample)
    assert flagged == set(truth["faults"]["sex_mismatch"])


def _king_pairs(world: Path, tmp_path: Path) -> list[tuple[frozenset[str], float]]:
    _run("plink2", "--vcf", str(world / "genotypes" / "cohort.vcf.bgz"), "--fam",
         str(world / "genotypes" / "cohort.fam"), "--split-par", "hg38",
         "--make-king-table", "--king-table-filter", str(KING_THIRD_DEGREE),
         "--out", str(tmp_path / "king"), "--threads", "2")
    rows = (tmp_path / "king.kin0").read_text().splitlines()[1:]
    return [(frozenset((r.split()[1], r.split()[3])), float(r.split()[-1])) for r in rows]


def test_king__finds_duplicates_trios_and_cryptic_relatives(
        world: Path, truth: dict, tmp_path: Path) -> None:
    pairs = _king_pairs(world, tmp_path)
    duplicates = {p for p, k in pairs if k > KING_DUPLICATE}
    first = {p for p, k in pairs if KING_FIRST_DEGREE < k <= KING_DUPLICATE}
    swapped = set(truth["faults"]["swapped_trio"])
    parent_child = {frozenset((t["child"], parent)) for t in truth["pedigree"]
                    if t["child"] not in swapped
                    for parent in (t["father"], t["mother"]) if parent}
    cryptic = {frozenset(p) for p in truth["faults"]["cryptic_relatedness"]}
    # Contaminated samples' excess hets inflate KING-robust kinship; QC removes them first.
    contaminated = set(truth["faults"]["contamination"])
    clean = {p for p, _ in pairs if not p & contaminated}
    assert duplicates == {frozenset(p) for p in truth["faults"]["duplicate"]}
    assert first - {p for p in first if p & contaminated} == parent_child | cryptic
    assert clean == duplicates | first


def test_mendelian__errors_only_in_swapped_trios(world: Path, truth: dict) -> None:
    out = _run("bcftools", "+mendelian", str(world / "genotypes" / "cohort.vcf.bgz"), "-p",
               str(world / "genotypes" / "cohort.fam"), "-r", "GRCh38", "-m", "c")
    errors = {}
    for line in out.splitlines():
        if not line.startswith("#"):
            ok, bad, _skipped, trio = line.split("\t")
            errors[trio.split(",")[2]] = int(bad) / (int(ok) + int(bad))
    assert len(errors) >= 10
    assert {child for child, rate in errors.items() if rate > 0.01} == \
        set(truth["faults"]["swapped_trio"])
    assert all(rate == 0 for child, rate in errors.items()
               if child not in truth["faults"]["swapped_trio"])
