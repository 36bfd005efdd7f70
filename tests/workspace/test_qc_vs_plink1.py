"""Agreement with PLINK 1.9 (Debian ``plink1.9``) on the same VCF and the committed pedigree:
the chrX sex check (``--check-sex``, F printed with four significant digits) and Mendel errors
(``--mendel``, counts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.workspace.io import read_fam
from genomlab.workspace.qc.relatedness import compute_mendel_errors
from genomlab.workspace.qc.sex import compute_sex_check
from tests.workspace.conftest import COMMITTED_WORLD
from tests.workspace.reference_tools import (
    assert_within_printed_precision,
    read_plink1_table,
    run_tool,
)

pytestmark = [pytest.mark.hail, pytest.mark.tools]

GENOTYPES = COMMITTED_WORLD / "genotypes"
CHECK_SEX_DIGITS = 4  # --check-sex writes F with double_g_writewx4
PLINK_SEX = {"male": 1, "female": 2}


@pytest.fixture(scope="module")
def plink1_bfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The VCF as a PLINK 1 fileset (REF/ALT kept, PARs split off to XY as ``--split-x hg38``
    does; haploid calls read as homozygous) with the committed .fam (pedigree, reported sex)."""
    prefix = tmp_path_factory.mktemp("plink1") / "cohort"
    run_tool("plink1.9", "--vcf", GENOTYPES / "cohort.vcf.bgz", "--keep-allele-order",
             "--split-x", "hg38", "--set-missing-var-ids", "@:#", "--make-bed",
             "--out", prefix)
    fam = pd.read_csv(GENOTYPES / "cohort.fam", sep=r"\s+", header=None, dtype=str)
    order = pd.read_csv(f"{prefix}.fam", sep=r"\s+", header=None, dtype=str)[1]
    fam = fam.set_index(1, drop=False).loc[order]
    fam.to_csv(f"{prefix}.fam", sep=" ", header=False, index=False)
    return prefix


def test_compute_sex_check__matches_plink19_check_sex(small_gm: Any, plink1_bfile: Path) -> None:
    # Definitional difference, aligned here: plink1.9 takes E(HOM)'s allele frequencies from
    # founders only with males counted once (by the .fam sex); genomlab, like impute_sex on
    # diploidised calls, from all samples with every call diploid, since sex is what is being
    # checked. The same frequencies are handed to plink1.9 (--freq counts over everyone, all
    # declared female, then --read-freq), so what remains compared is the F statistic itself,
    # its non-PAR site set, missingness and the male haploid calls (homozygous).
    gm, _ = small_gm
    work = plink1_bfile.parent
    all_female = work / "all_female.fam"
    fam = pd.read_csv(f"{plink1_bfile}.fam", sep=" ", header=None, dtype=str)
    fam[4] = "2"
    fam.to_csv(all_female, sep=" ", header=False, index=False)
    run_tool("plink1.9", "--bed", f"{plink1_bfile}.bed", "--bim", f"{plink1_bfile}.bim",
             "--fam", all_female, "--chr", "X", "--nonfounders", "--freq", "counts",
             "--out", work / "diploid")
    run_tool("plink1.9", "--bfile", plink1_bfile, "--read-freq", work / "diploid.frq.counts",
             "--check-sex", "--out", work / "sex")
    plink = read_plink1_table(work / "sex.sexcheck").set_index("IID")
    reported = read_fam(GENOTYPES / "cohort.fam")["reported_sex"]
    ours = compute_sex_check(gm, reported)
    plink = plink.loc[ours.index]
    assert_within_printed_precision(ours["x_f_stat"], plink["F"], CHECK_SEX_DIGITS,
                                    what="--check-sex F")
    snpsex = ours["genetic_sex"].map(PLINK_SEX).fillna(0).astype(int)
    assert (snpsex == plink["SNPSEX"]).all()
    problem = (plink["SNPSEX"] != 0) & (plink["SNPSEX"] != plink["PEDSEX"])
    assert (ours["sex_mismatch"] == problem).all()
    truth = json.loads((COMMITTED_WORLD / "truth.json").read_text())
    assert set(ours.index[ours["sex_mismatch"]]) == set(truth["faults"]["sex_mismatch"])


def test_compute_mendel_errors__matches_plink19_mendel(small_gm: Any,
                                                       plink1_bfile: Path) -> None:
    # genomlab counts autosomal errors, so plink1.9 runs on --autosome. Compared per nuclear
    # family (plink's .fmendel sums a family's children) and per chromosome (its .mendel lists
    # every error), so a rule that errs on some genotype patterns cannot hide in a total.
    gm, _ = small_gm
    out = plink1_bfile.parent / "mendel"
    run_tool("plink1.9", "--bfile", plink1_bfile, "--autosome", "--mendel", "--out", out)
    info = read_fam(GENOTYPES / "cohort.fam")
    ours = compute_mendel_errors(gm, info)
    family = read_plink1_table(out.with_suffix(".fmendel")).set_index(["PAT", "MAT"])["N"]
    ours_family = ours.groupby(["father", "mother"])["n_errors"].sum()
    assert len(family) == len(ours_family) > 10
    assert (ours_family == family.loc[ours_family.index]).all()
    lines = out.with_suffix(".mendel").read_text().splitlines()
    assert lines[0].split()[:3] == ["FID", "KID", "CHR"]
    per_contig = pd.Series([line.split()[2] for line in lines[1:]]).value_counts()  # ERROR: spaces
    contig = gm.variants["contig"].str.removeprefix("chr").to_numpy()
    ours_contig = pd.Series({c: int(compute_mendel_errors(gm.subset(rows=contig == c),
                                                          info)["n_errors"].sum())
                             for c in np.unique(contig[gm.is_autosomal])})
    assert (ours_contig == per_contig.reindex(ours_contig.index, fill_value=0)).all()
    assert ours["n_errors"].max() > 100  # the swapped-in sample
