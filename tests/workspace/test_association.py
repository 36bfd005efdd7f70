"""GWAS with sex and PCs: the planted associations are found at p < 5e-8 and nothing else is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genomlab.workspace.analysis.association import GENOME_WIDE_P, run_association
from genomlab.workspace.qc.pipeline import read_qc_genotypes

pytestmark = [pytest.mark.hail, pytest.mark.slow]

#: A hit belongs to a planted effect when it is in LD with the planted variant (the synthetic
#: world draws haplotype blocks of a few sites, Mb-wide at this density).
MIN_R2 = 0.1


def _explained(hits: pd.DataFrame, planted: list[str], qc_dir: Path) -> pd.Series:
    """Per hit: is it a planted variant or in LD (r² ≥ MIN_R2) with one?"""
    gm = read_qc_genotypes(qc_dir)
    row = {v: k for k, v in enumerate(gm.variants["variant"])}
    dosage = gm.n_alt.astype(float)
    dosage[gm.n_alt < 0] = np.nan

    def r2(a: str, b: str) -> float:
        x, y = dosage[row[a]], dosage[row[b]]
        ok = ~np.isnan(x) & ~np.isnan(y)
        return float(np.corrcoef(x[ok], y[ok])[0, 1] ** 2)

    return hits["variant"].map(lambda v: any(v == p or r2(v, p) >= MIN_R2 for p in planted))


@pytest.fixture(scope="module")
def quant(hl: Any, qc_run: tuple[Any, Path], world: Path,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    _, qc_dir = qc_run
    out = tmp_path_factory.mktemp("gwas-quant")
    return run_association(hl, out, qc_dir=qc_dir, phenotype="quant_trait",
                           vcf=world / "genotypes" / "cohort.vcf.bgz"), out


def test_run_association__finds_planted_quantitative_effects_only(
        quant: tuple[pd.DataFrame, Path], qc_run: tuple[Any, Path], truth: dict) -> None:
    results, out = quant
    n = int(results["n"].iloc[0])
    planted = [a for a in truth["associations"] if a["phenotype"] == "quant_trait"]
    detectable = [a["variant"] for a in planted if a["expected_detectable_at_n"] <= n]
    assert detectable
    p = results.set_index("variant")["p_value"]
    for variant in detectable:
        assert p[variant] < GENOME_WIDE_P, variant
    hits = results[results["p_value"] < GENOME_WIDE_P]
    assert _explained(hits, [a["variant"] for a in planted], qc_run[1]).all()
    signs = {a["variant"]: np.sign(a["beta"]) for a in planted}
    betas = results.set_index("variant")["beta"]
    assert all(np.sign(betas[v]) == signs[v] for v in detectable)
    for name in ("association.tsv", "manhattan.png", "qq.png"):
        assert (out / name).stat().st_size > 0


def test_run_association__finds_planted_binary_effects_only(
        hl: Any, qc_run: tuple[Any, Path], world: Path, truth: dict, tmp_path: Path) -> None:
    _, qc_dir = qc_run
    results = run_association(hl, tmp_path, qc_dir=qc_dir, phenotype="hpo_affected",
                              vcf=world / "genotypes" / "cohort.vcf.bgz")
    n = int(results["n"].iloc[0])
    planted = [a for a in truth["associations"] if "odds_ratio" in a]
    detectable = [a["variant"] for a in planted if a["expected_detectable_at_n"] <= n]
    assert detectable
    p = results.set_index("variant")["p_value"]
    for variant in detectable:
        assert p[variant] < GENOME_WIDE_P, (variant, p[variant])
    betas = results.set_index("variant")["beta"]
    assert all(betas[a["variant"]] > 0 for a in planted)  # odds ratios > 1
    hits = results[results["p_value"] < GENOME_WIDE_P]
    assert _explained(hits, [a["variant"] for a in planted], qc_dir).all()
    assert results["p_value"].notna().mean() > 0.99  # fits converge
    assert results["p_value"].dropna().between(0, 1).all()


def test_get_independent_hits__clumps_by_distance() -> None:
    from genomlab.workspace.analysis.association import get_independent_hits

    results = pd.DataFrame({"variant": ["a", "b", "c", "d"], "contig": ["chr1", "chr1", "chr1",
                                                                        "chr2"],
                            "position": [100, 200, 9_000_000, 100],
                            "p_value": [1e-10, 1e-9, 1e-12, 0.5]})
    leads = get_independent_hits(results, window_bp=1_000_000)
    assert leads["variant"].tolist() == ["c", "a"]
