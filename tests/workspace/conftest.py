"""Shared inputs of the workspace tests: synthetic worlds and one QC run per session.

Hail time is shared: each world is converted once and every QC test reads the same result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMITTED_WORLD = REPO / "data_samples" / "world"


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A world big enough to score QC and GWAS: ~340 samples × 4000 variants, 4 faults/kind."""
    from genomlab.samples import generate_world

    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, n_patients=200, n_variants=4000, seed=3)
    return out


@pytest.fixture(scope="session")
def truth(world: Path) -> dict:
    return json.loads((world / "truth.json").read_text())


@pytest.fixture(scope="session")
def qc_run(hl: Any, world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """(QcResult, output directory) of ``run_cohort_qc`` on :func:`world`, with ancestry
    against the world's labelled reference panel."""
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    out = tmp_path_factory.mktemp("qc")
    return run_cohort_qc(hl, out, vcf=world / "genotypes" / "cohort.vcf.bgz",
                         reference=world / "reference_panel"), out


@pytest.fixture(scope="session")
def small_mt(hl: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The committed 114-sample world as a MatrixTable (converted once)."""
    from genomlab.workspace.io import import_vcf_to_mt

    out = tmp_path_factory.mktemp("small") / "cohort.mt"
    return import_vcf_to_mt(hl, COMMITTED_WORLD / "genotypes" / "cohort.vcf.bgz", out)


@pytest.fixture(scope="session")
def small_gm(hl: Any, small_mt: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Raw (unfiltered) calls of :func:`small_mt` in memory, plus the PLINK files on disk."""
    from genomlab.workspace.io import export_genotype_matrix, get_qc_call_expr

    prefix = tmp_path_factory.mktemp("small-bed") / "raw"
    call = get_qc_call_expr(hl, small_mt, min_gq=None, min_dp=None, min_het_ab=None)
    return export_genotype_matrix(hl, small_mt, call, prefix), prefix
