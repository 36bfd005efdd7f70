"""Agreement with plink2 (Debian) on the same VCF: call rate, heterozygosity, AF, HWE, KING."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.workspace.qc.relatedness import compute_king
from genomlab.workspace.qc.sample_qc import compute_inbreeding_f, compute_sample_metrics
from genomlab.workspace.qc.variant_qc import compute_variant_metrics
from tests.workspace.conftest import COMMITTED_WORLD

pytestmark = [pytest.mark.hail, pytest.mark.tools]


@pytest.fixture(scope="module")
def plink2_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plink2") / "q"
    subprocess.run(
        ["plink2", "--vcf", str(COMMITTED_WORLD / "genotypes" / "cohort.vcf.bgz"),
         "--autosome", "--set-all-var-ids", "chr@:#:$r:$a", "--freq", "--missing",
         "--hardy", "midp", "--het", "--make-king-table", "--king-table-filter", "-1",
         "--threads", "2", "--out", str(out)], check=True, capture_output=True)
    return out


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t").rename(columns=lambda c: c.lstrip("#"))


@pytest.fixture(scope="module")
def autosomes(small_gm: Any) -> Any:
    gm, _ = small_gm
    return gm.subset(rows=gm.is_autosomal)


def test_compute_sample_metrics__call_rate_and_het_match_plink2(autosomes: Any,
                                                                plink2_out: Path) -> None:
    smiss = _read(plink2_out.with_suffix(".smiss")).set_index("IID")
    het = _read(plink2_out.with_suffix(".het")).set_index("IID")
    ours = compute_sample_metrics(autosomes)
    np.testing.assert_allclose(ours["call_rate"], 1 - smiss.loc[ours.index, "F_MISS"],
                               atol=1e-6)
    f = compute_inbreeding_f(autosomes)
    assert (f["o_hom"] == het.loc[f.index, "O(HOM)"]).all()
    assert (f["n_het_sites"] == het.loc[f.index, "OBS_CT"]).all()
    np.testing.assert_allclose(f["f_het"], het.loc[f.index, "F"], atol=1e-6)


def test_compute_variant_metrics__af_and_hwe_match_plink2(autosomes: Any,
                                                          plink2_out: Path) -> None:
    freq = _read(plink2_out.with_suffix(".afreq")).set_index("ID")
    hardy = _read(plink2_out.with_suffix(".hardy")).set_index("ID")
    ours = compute_variant_metrics(autosomes).set_index("variant")
    assert len(freq) == len(ours)
    np.testing.assert_allclose(ours["AF"], freq.loc[ours.index, "ALT_FREQS"], atol=1e-6)
    np.testing.assert_allclose(ours["p_value_hwe"], hardy.loc[ours.index, "MIDP"], atol=1e-6)
    assert (ours["p_value_hwe"] < 1e-6).sum() >= 3  # the injected HWE failures are in there


def test_compute_king__matches_plink2_make_king(autosomes: Any, plink2_out: Path) -> None:
    kin0 = _read(plink2_out.with_suffix(".kin0"))
    kinship, _ = compute_king(autosomes)
    index = {s: k for k, s in enumerate(autosomes.samples)}
    ours = kinship[kin0["IID1"].map(index), kin0["IID2"].map(index)]
    assert len(kin0) == len(index) * (len(index) - 1) // 2
    assert np.abs(ours - kin0["KINSHIP"].to_numpy()).max() < 0.01
    assert kin0["KINSHIP"].max() > 0.354  # the injected duplicate
