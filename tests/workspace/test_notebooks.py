"""The researcher notebooks run under papermill with small parameters and produce their plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from genomlab.config import GenomlabConfig
from genomlab.workspace.qc.pipeline import QC_PLOTS
from tests.conftest import NOTEBOOKS, write_config_file
from tests.notebook_outputs import get_output_tables, get_png_outputs, get_printed_lines
from tests.workspace.conftest import COMMITTED_WORLD

pytestmark = [pytest.mark.notebook, pytest.mark.hail, pytest.mark.slow]


@pytest.mark.parametrize("name", ["cohort_qc.ipynb", "association.ipynb"])
def test_notebook__parameters_cell_is_first(name: str) -> None:
    params = papermill.inspect_notebook(str(NOTEBOOKS / name))
    assert {"config_path", "spark_master", "vcf", "release"} <= set(params)
    assert params["spark_master"]["default"].strip("'\"") == "local[2]"
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.get("outputs") for c in code)


def _table_with(tables: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """The first displayed table that has ``column``."""
    found = [table for table in tables if column in table.columns]
    assert found, f"the notebook displayed no table with a {column!r} column"
    return found[0]


def _passing_samples(qc_dir: Path) -> pd.DataFrame:
    sample_qc = pd.read_csv(qc_dir / "sample_qc.tsv", sep="\t")
    return sample_qc[sample_qc["pass"]].set_index("sample")


def _check_qc_outputs(qc_nb: Path, qc_dir: Path) -> None:
    """The QC notebook shows the counts, failing samples and plots of the run's own tables."""
    sample_qc = pd.read_csv(qc_dir / "sample_qc.tsv", sep="\t", keep_default_na=False)
    failing = sample_qc[~sample_qc["pass"]]
    assert len(failing) > 0
    assert f"{len(sample_qc)} samples, {len(failing)} fail QC" in get_printed_lines(qc_nb)
    shown = _table_with(get_output_tables(qc_nb), "heterozygosity_rate")
    assert shown[["sample", "reasons"]].values.tolist() == failing[["sample", "reasons"]
                                                                    ].values.tolist()
    # drawn from the run's tables (call rate, heterozygosity, PCA, kinship); the run wrote its own
    assert len(get_png_outputs(qc_nb)) == len(QC_PLOTS)
    assert all((qc_dir / name).stat().st_size > 0 for name in QC_PLOTS)


def _check_association_outputs(gwas_nb: Path, qc_dir: Path, gwas_dir: Path) -> None:
    """Hits, plots, frequencies by disease type and Fst: what the run computed, displayed."""
    from genomlab.workspace.analysis.association import get_independent_hits
    from genomlab.workspace.analysis.popgen import compute_pairwise_fst
    from genomlab.workspace.qc.pipeline import read_qc_genotypes

    tables = get_output_tables(gwas_nb)
    leads = get_independent_hits(pd.read_csv(gwas_dir / "association.tsv", sep="\t"))
    hits = _table_with(tables, "standard_error")
    assert len(leads) > 0
    assert hits["variant"].tolist() == leads["variant"].tolist()
    # shown to 3 significant digits, p-values in scientific notation (never 0.0)
    assert [float(b) for b in hits["beta"]] == pytest.approx(list(leads["beta"]), rel=5e-3)
    assert [float(p) for p in hits["p_value"]] == pytest.approx(list(leads["p_value"]), rel=1e-2)
    assert all("e-" in p for p in hits["p_value"])
    assert len(get_png_outputs(gwas_nb)) == 2  # Manhattan and QQ
    assert all((gwas_dir / name).stat().st_size > 0 for name in ("manhattan.png", "qq.png"))

    passing = _passing_samples(qc_dir)
    info = pd.read_csv(COMMITTED_WORLD / "genotypes" / "samples.tsv", sep="\t",
                       index_col="sample")
    by_disease = info["disease_type"].reindex(passing.index).value_counts()
    disease = _table_with(tables, "disease_type")
    assert len(disease) > 0
    assert {(d, int(n)) for d, n in zip(disease["disease_type"], disease["n_samples"],
                                        strict=True)} <= set(by_disease.items())

    groups = passing["ancestry_group"][passing["ancestry_group"] != "unassigned"]
    expected = compute_pairwise_fst(read_qc_genotypes(qc_dir), groups)
    fst = _table_with(tables, "fst")
    assert fst[["group_1", "group_2"]].values.tolist() == expected[["group_1", "group_2"]
                                                                   ].values.tolist()
    assert len(expected) > 0
    assert [float(v) for v in fst["fst"]] == pytest.approx(list(expected["fst"]), rel=1e-5)


def test_notebooks__qc_then_association_run_and_plot(
        run_notebook: Callable[..., Path], config: GenomlabConfig, tmp_path: Path) -> None:
    cfg = str(write_config_file(config, tmp_path / "genomlab.toml"))
    vcf = str(COMMITTED_WORLD / "genotypes" / "cohort.vcf.bgz")
    qc_dir = tmp_path / "qc"
    qc_nb = run_notebook("cohort_qc.ipynb", config_path=cfg, vcf=vcf, out_dir=str(qc_dir))
    _check_qc_outputs(qc_nb, qc_dir)
    gwas_dir = tmp_path / "gwas"
    gwas_nb = run_notebook("association.ipynb", config_path=cfg, vcf=vcf, qc_dir=str(qc_dir),
                           out_dir=str(gwas_dir), phenotype="quant_trait")
    _check_association_outputs(gwas_nb, qc_dir, gwas_dir)
