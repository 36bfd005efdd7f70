"""The planted faults as reference tools see them (Debian's bcftools, plink2 and plink1.9).

Debian's plink2 (2.00a3.5) has neither ``--check-sex`` nor ``--mendel``, so those two checks run
PLINK 1.9 on a .bed that plink2 converts from the cohort VCF (PAR split, chromosome codes 1-26).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.tools

#: KING-robust kinship cut-offs (Manichaikul et al. 2010): duplicate > 0.354, first degree
#: > 0.177, third degree > 0.0884.
KING_DUPLICATE = 0.354
KING_FIRST_DEGREE = 0.177
KING_THIRD_DEGREE = 0.0884


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


@pytest.fixture(scope="module")
def plink_bed(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cohort as a sorted PLINK 1 .bed with the declared pedigree and reported sex."""
    out = tmp_path_factory.mktemp("plink")
    _run("plink2", "--vcf", str(world / "genotypes" / "cohort.vcf.bgz"), "--fam",
         str(world / "genotypes" / "cohort.fam"), "--split-par", "hg38", "--output-chr", "26",
         "--make-bed", "--out", str(out / "split"), "--threads", "2")
    _run("plink1.9", "--bfile", str(out / "split"), "--make-bed", "--out", str(out / "cohort"))
    return out / "cohort"


def test_plink_check_sex__flags_exactly_the_planted_mismatches(
        plink_bed: Path, truth: dict) -> None:
    _run("plink1.9", "--bfile", str(plink_bed), "--check-sex", "--out", str(plink_bed))
    rows = [line.split() for line in Path(f"{plink_bed}.sexcheck").read_text().splitlines()[1:]]
    flagged = {row[1] for row in rows if row[4] == "PROBLEM"}
    assert len(rows) == len(truth["samples"])
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


def test_plink_mendel__errors_only_in_swapped_trios(plink_bed: Path, truth: dict) -> None:
    _run("plink1.9", "--bfile", str(plink_bed), "--mendel", "--out", str(plink_bed))
    rows = [line.split() for line in Path(f"{plink_bed}.fmendel").read_text().splitlines()[1:]]
    families_with_errors = {row[0] for row in rows if int(row[4]) > 0}
    swapped = set(truth["faults"]["swapped_trio"])
    swapped_families = {t["family"] for t in truth["pedigree"] if t["child"] in swapped}
    assert len(rows) >= 10
    assert families_with_errors == swapped_families
