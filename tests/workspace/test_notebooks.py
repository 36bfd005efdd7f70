"""The researcher notebooks run under papermill with small parameters and produce their plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import papermill
import pytest

from genomlab.config import GenomlabConfig
from genomlab.workspace.qc.pipeline import QC_PLOTS
from tests.conftest import NOTEBOOKS, write_config_file
from tests.workspace.conftest import COMMITTED_WORLD

pytestmark = [pytest.mark.notebook, pytest.mark.hail, pytest.mark.slow]


def _png_outputs(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               for out in cell.get("outputs", []))


@pytest.mark.parametrize("name", ["cohort_qc.ipynb", "association.ipynb"])
def test_notebook__parameters_cell_is_first(name: str) -> None:
    params = papermill.inspect_notebook(str(NOTEBOOKS / name))
    assert {"config_path", "spark_master", "vcf", "release"} <= set(params)
    assert params["spark_master"]["default"].strip("'\"") == "local[2]"
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.get("outputs") for c in code)


def test_notebooks__qc_then_association_run_and_plot(
        run_notebook: Callable[..., Path], config: GenomlabConfig, tmp_path: Path) -> None:
    cfg = str(write_config_file(config, tmp_path / "genomlab.toml"))
    vcf = str(COMMITTED_WORLD / "genotypes" / "cohort.vcf.bgz")
    qc_dir = tmp_path / "qc"
    qc_nb = run_notebook("cohort_qc.ipynb", config_path=cfg, vcf=vcf, out_dir=str(qc_dir))
    for name in QC_PLOTS:
        assert (qc_dir / name).stat().st_size > 0
    assert _png_outputs(qc_nb) == len(QC_PLOTS)
    gwas_dir = tmp_path / "gwas"
    gwas_nb = run_notebook("association.ipynb", config_path=cfg, vcf=vcf, qc_dir=str(qc_dir),
                           out_dir=str(gwas_dir), phenotype="quant_trait")
    assert (gwas_dir / "association.tsv").stat().st_size > 0
    assert _png_outputs(gwas_nb) == 2
    text = gwas_nb.read_text()
    assert "fst" in text
    assert "disease_type" in text
