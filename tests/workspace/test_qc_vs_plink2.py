"""Agreement with plink2 (Debian) on the same VCF at plink2's printed precision (six significant
digits): call rate, heterozygosity, AF, HWE, KING, and the sex chromosomes with sexes set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.workspace.io import read_fam
from genomlab.workspace.qc.relatedness import compute_king
from genomlab.workspace.qc.sample_qc import compute_inbreeding_f, compute_sample_metrics
from genomlab.workspace.qc.variant_qc import compute_variant_metrics
from tests.workspace.conftest import COMMITTED_WORLD
from tests.workspace.reference_tools import (
    assert_within_printed_precision,
    read_plink2_table,
    run_tool,
)

pytestmark = [pytest.mark.hail, pytest.mark.tools]

VCF = COMMITTED_WORLD / "genotypes" / "cohort.vcf.bgz"
PLINK2_DIGITS = 6  # plink2 writes floats with dtoa_g: six significant digits
VARIANT_IDS = ("--set-all-var-ids", "chr@:#:$r:$a")  # genomlab's contig:position:ref:alt


@pytest.fixture(scope="module")
def plink2_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plink2") / "q"
    run_tool("plink2", "--vcf", VCF, "--autosome", *VARIANT_IDS, "--freq", "--missing",
             "--hardy", "midp", "--het", "--make-king-table", "--king-table-filter", "-1",
             "--threads", "2", "--out", out)
    return out


@pytest.fixture(scope="module")
def autosomes(small_gm: Any) -> Any:
    gm, _ = small_gm
    return gm.subset(rows=gm.is_autosomal)


def test_compute_sample_metrics__call_rate_and_het_match_plink2(autosomes: Any,
                                                                plink2_out: Path) -> None:
    smiss = read_plink2_table(plink2_out.with_suffix(".smiss")).set_index("IID")
    het = read_plink2_table(plink2_out.with_suffix(".het")).set_index("IID")
    ours = compute_sample_metrics(autosomes)
    assert (ours["n_not_called"] == smiss.loc[ours.index, "MISSING_CT"]).all()
    f = compute_inbreeding_f(autosomes)
    assert (f["o_hom"] == het.loc[f.index, "O(HOM)"]).all()
    assert (f["n_het_sites"] == het.loc[f.index, "OBS_CT"]).all()
    assert_within_printed_precision(f["f_het"], het.loc[f.index, "F"], PLINK2_DIGITS,
                                    what="--het F")


def test_compute_variant_metrics__af_and_hwe_match_plink2(autosomes: Any,
                                                          plink2_out: Path) -> None:
    freq = read_plink2_table(plink2_out.with_suffix(".afreq")).set_index("ID")
    hardy = read_plink2_table(plink2_out.with_suffix(".hardy")).set_index("ID")
    ours = compute_variant_metrics(autosomes).set_index("variant")
    assert len(freq) == len(ours)
    assert (ours["AN"] == freq.loc[ours.index, "OBS_CT"]).all()
    assert_within_printed_precision(ours["AF"], freq.loc[ours.index, "ALT_FREQS"],
                                    PLINK2_DIGITS, what="AF")
    assert_within_printed_precision(ours["p_value_hwe"], hardy.loc[ours.index, "MIDP"],
                                    PLINK2_DIGITS, what="HWE mid-p")
    assert (ours["p_value_hwe"] < 1e-6).sum() >= 3  # the injected HWE failures are in there


def test_compute_king__matches_plink2_make_king_at_printed_precision(
        autosomes: Any, plink2_out: Path) -> None:
    # plink2 --make-king-table prints KINSHIP, IBS0 (a proportion of NSNP) with six significant
    # digits (not a fixed number of decimals: -0.0673684, 0.125148), so a pair agrees when it is
    # within half a unit of the sixth significant digit. The old |diff| < 0.01 accepted errors
    # of a quarter of KING's third-degree band (0.0442 wide).
    kin0 = read_plink2_table(plink2_out.with_suffix(".kin0"))
    kinship, ibs0 = compute_king(autosomes)
    index = {s: k for k, s in enumerate(autosomes.samples)}
    i, j = kin0["IID1"].map(index).to_numpy(), kin0["IID2"].map(index).to_numpy()
    assert len(kin0) == len(index) * (len(index) - 1) // 2
    assert_within_printed_precision(kinship[i, j], kin0["KINSHIP"], PLINK2_DIGITS,
                                    what="KING kinship")
    assert_within_printed_precision(ibs0[i, j], kin0["IBS0"], PLINK2_DIGITS, what="IBS0")
    assert kin0["KINSHIP"].max() > 0.354  # the injected duplicate


@pytest.fixture(scope="module")
def declared_males(small_gm: Any) -> pd.Series:
    """Reported sex of the committed world, with its first reported female declared male.

    The world's sex mismatch is a genetic male reported female; the declared male added here
    is the other kind, a genetic female reported male, whose chrX heterozygous calls are the
    heterozygous-haploid errors PLINK sets missing.
    """
    gm, _ = small_gm
    reported = read_fam(COMMITTED_WORLD / "genotypes" / "cohort.fam")["reported_sex"]
    males = (reported.reindex(gm.samples) == "male").rename("male")
    males.iloc[int(np.flatnonzero(~males.to_numpy())[0])] = True
    return males


@pytest.fixture(scope="module")
def plink2_sex_chromosomes(declared_males: pd.Series,
                           tmp_path_factory: pytest.TempPathFactory) -> Path:
    """plink2 on chrX/chrY of the VCF with the sexes set and the PARs split off, hh calls
    erased (``--set-hh-missing`` acts on the written pgen); a females-only HWE run beside it."""
    work = tmp_path_factory.mktemp("plink2-sex")
    sex = work / "sex.tsv"
    sex.write_text("#IID\tSEX\n" + "".join(
        f"{s}\t{1 if male else 2}\n" for s, male in declared_males.items()))
    run_tool("plink2", "--vcf", VCF, *VARIANT_IDS, "--split-par", "hg38", "--update-sex", sex,
             "--chr", "X,Y,PAR1,PAR2", "--set-hh-missing", "--make-pgen", "--out", work / "xy")
    run_tool("plink2", "--pfile", work / "xy", "--freq", "counts", "--missing", "--hardy",
             "midp", "--out", work / "xy")
    run_tool("plink2", "--pfile", work / "xy", "--keep-females", "--hardy", "midp",
             "--out", work / "females")
    return work


def test_compute_variant_metrics__sex_chromosomes_match_plink2_with_sexes(
        small_gm: Any, declared_males: pd.Series, plink2_sex_chromosomes: Path) -> None:
    gm, _ = small_gm
    sex_chromosomes = gm.subset(rows=gm.is_x | gm.is_y)
    ours = compute_variant_metrics(sex_chromosomes,
                                   males=declared_males.to_numpy()).set_index("variant")
    counts = read_plink2_table(plink2_sex_chromosomes / "xy.acount").set_index("ID")
    missing = read_plink2_table(plink2_sex_chromosomes / "xy.vmiss").set_index("ID")
    assert len(counts) == len(ours)
    counts, missing = counts.loc[ours.index], missing.loc[ours.index]
    # Male haploid calls count one allele; the declared male's hets are missing, not 0.5 alleles.
    assert (ours["AC"] == counts["ALT_CTS"]).all()
    assert (ours["AN"] == counts["OBS_CT"]).all()
    assert (ours["n_not_called"] == missing["MISSING_CT"]).all()  # chrY: males only
    assert (ours["n_called"] == missing["OBS_CT"] - missing["MISSING_CT"]).all()
    # plink2's chrX HWE test (Graffelman & Weir 2016) also tests males' allele frequency
    # against females'; genomlab's is PLINK 1.9's and Hail-practice females-only test, so the
    # like-for-like reference is plink2 --hardy on --keep-females. The split-off PARs are
    # diploid in everyone and tested on all samples.
    par = read_plink2_table(plink2_sex_chromosomes / "xy.hardy").set_index("ID")["MIDP"]
    females = read_plink2_table(
        plink2_sex_chromosomes / "females.hardy.x").set_index("ID")["MIDP"]
    expected = pd.concat([par, females]).reindex(ours.index)  # chrY: no test, NaN
    assert len(females) > 700
    assert len(par) > 10
    assert_within_printed_precision(ours["p_value_hwe"], expected, PLINK2_DIGITS,
                                    what="chrX/PAR HWE mid-p")
