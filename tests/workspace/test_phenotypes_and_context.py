"""Phenotypes from released clinical lists, the notebook's project context, the readable plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, PermissionDenied, ValidationFailed
from genomlab.workspace.analysis.association import compute_detectable_effect
from genomlab.workspace.analysis.phenotypes import (
    get_hpo_descendants,
    get_hpo_terms,
    get_phenotype_values,
)
from genomlab.workspace.notebook_context import (
    can_run_analysis,
    get_notebook_inputs,
    get_project_context,
)
from genomlab.workspace.plots import plot_heterozygosity, plot_kinship, plot_manhattan, plot_qq

REPO = Path(__file__).resolve().parents[2]


def _clinical() -> pd.DataFrame:
    """As a release's persons.parquet reads: lists of codes, one person without a record."""
    return pd.DataFrame({
        "sex": ["female", "male", "male", None],
        "diagnosis": [np.array(["G40.3"]), np.array(["Q87.1", "G40"]), np.array([]), None],
        "hpo_terms": [np.array(["HP:0002121"]), np.array(["HP:0001252"]), np.array([]), None],
    }, index=["S1", "S2", "S3", "S4"])


def test_get_phenotype_values__icd10gm_prefix_and_hpo_descendants() -> None:
    info = _clinical()
    assert get_phenotype_values(info, "ICD10GM:G40").tolist()[:3] == [1.0, 1.0, 0.0]
    assert get_phenotype_values(info, "ICD10GM:Q87.1").tolist()[:3] == [0.0, 1.0, 0.0]
    # HP:0002121 (absence seizure) descends from Seizure through Generalized-onset seizure
    assert get_phenotype_values(info, "HP:0001250").tolist()[:3] == [1.0, 0.0, 0.0]
    assert get_phenotype_values(info, "HP:0012638").tolist()[:3] == [1.0, 1.0, 0.0]
    assert np.isnan(get_phenotype_values(info, "HP:0001250").iloc[3])  # no record: not a control


def test_get_hpo_descendants__every_world_term_is_in_the_subset() -> None:
    from genomlab.samples.clinical import OTHER_HPO
    from genomlab.samples.phenotypes import PLANTED_HPO

    terms = get_hpo_terms()
    assert {code for code, _ in (*OTHER_HPO, PLANTED_HPO)} <= set(terms)
    assert all(parent in terms for t in terms.values() for parent in t["parents"])
    assert get_hpo_descendants("HP:0000118") == frozenset(terms)  # the root reaches all


@pytest.mark.parametrize(("spec", "message"), [
    ("diagnosis", "phenotype 'diagnosis': the field holds lists of codes; give 'ICD10GM:"),
    ("hpo_terms", "phenotype 'hpo_terms': the field holds lists of codes; give an HPO term"),
    ("HP:9999999", "phenotype 'HP:9999999': not in genomlab's HPO subset"),
    ("ICD10GM:", "phenotype 'ICD10GM:': give an ICD-10-GM code or prefix"),
    ("bmi", "phenotype 'bmi': no such field (released: sex, diagnosis, hpo_terms)"),
    ("sex", "phenotype 'sex': the field is not numeric"),
])
def test_get_phenotype_values__bad_spec_fails_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        get_phenotype_values(_clinical(), spec)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_compute_detectable_effect__agrees_with_the_worlds_planted_detectable_n() -> None:
    """At the N where truth.json says a planted quantitative effect becomes detectable (99 %
    power at 5e-8), the detectable beta in residual-SD units is the planted one."""
    truth = json.loads((REPO / "data_samples" / "world" / "truth.json").read_text())
    for planted in (a for a in truth["associations"] if a["phenotype"] == "quant_trait"):
        r2 = planted["variance_explained"]
        standardised = np.sqrt(r2 / (1 - r2) / (2 * 0.4 * 0.6))  # beta / residual SD
        beta = compute_detectable_effect(planted["expected_detectable_at_n"], power=0.99,
                                         allele_frequency=planted["allele_frequency"])
        assert beta == pytest.approx(standardised, rel=0.02)
    assert compute_detectable_effect(100, allele_frequency=0.4, case_fraction=0.3) > \
        compute_detectable_effect(1000, allele_frequency=0.4, case_fraction=0.3)


def test_get_project_context__member_project_duo_terms_and_refusals(
        config: GenomlabConfig) -> None:
    from genomlab.platform.applications.demo import run_applications_demo

    demo = run_applications_demo(config)
    context = get_project_context(config, user="alice", require_release=False)
    assert (context.project_id, context.member) == (demo.project_id, "alice")
    assert context.workspace == config.workspace_dir(demo.project_id)
    assert "NPOA (DUO:0000044): population origins or ancestry research prohibited" in \
        context.describe_duo_terms()
    assert not can_run_analysis(context, "fst_by_ancestry")
    assert can_run_analysis(context, "association")
    summary = context.format_summary()
    assert f"Project {demo.project_id}, member alice, entitled until " \
           f"{context.valid_until.isoformat()}" in summary
    assert "airlock" in summary
    assert "re-identify" in summary
    with pytest.raises(NotFoundError, match="nothing has been released"):
        get_project_context(config, user="alice")  # checked before any Spark
    with pytest.raises(PermissionDenied, match="'mallory' holds no active entitlement"):
        get_project_context(config, user="mallory", require_release=False)


def test_get_notebook_inputs__paths_from_the_home_not_the_working_directory(
        config: GenomlabConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genomlab.platform.applications.demo import run_applications_demo

    project = run_applications_demo(config).project_id
    release = config.workspace_dir(project) / "release"
    release.mkdir(parents=True)
    (release / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    inputs = get_notebook_inputs(config, "association", user="tom")
    assert inputs.release == release.resolve() or inputs.release == release
    assert inputs.qc_dir == config.workspace_dir(project) / "qc"
    assert inputs.out_dir == config.workspace_dir(project) / "analysis" / "association"
    with pytest.raises(PermissionDenied, match="not the release of project"):
        get_notebook_inputs(config, "association", user="tom", release=str(tmp_path))
    with pytest.raises(NotFoundError, match="VCF not found"):
        get_notebook_inputs(config, "cohort_qc", vcf="data_samples/world/genotypes/x.vcf.bgz")


def test_plots__labelled_thresholds_bounds_band_and_readable_ticks() -> None:
    kinship = plot_kinship(pd.DataFrame({"ibs0": [0.0], "kinship": [0.25], "finding": [""]}))
    texts = [t.get_text() for t in kinship.axes[0].texts]
    assert texts == ["duplicate / MZ twin ≥ 0.354", "1st degree ≥ 0.177", "2nd degree ≥ 0.0884",
                     "3rd degree ≥ 0.0442"]
    qc = pd.DataFrame({"raw_call_rate": [0.99] * 6 + [0.9, 0.99],
                       "heterozygosity_rate": [0.30, 0.31, 0.29, 0.30, 0.31, 0.30, 0.3, 0.45],
                       "pass": [True] * 6 + [False, False],
                       "reasons": [""] * 6 + ["call_rate", "heterozygosity;mendel"],
                       "ancestry_group": "EUR"})
    labels = plot_heterozygosity(qc).axes[0].get_legend_handles_labels()[1]
    assert labels == ["pass (6)", "call_rate (1)", "heterozygosity (1)",
                      "bounds: median ± 4 MAD"]
    rng = np.random.default_rng(0)
    results = pd.DataFrame({"contig": [f"chr{c}" for c in range(1, 23) for _ in range(20)],
                            "position": np.tile(np.arange(1, 21) * 1_000_000, 22),
                            "p_value": rng.uniform(size=440)})
    results.loc[results["contig"].isin(["chr21", "chr22"]), "position"] //= 1000  # tiny contigs
    ticks = plot_manhattan(results).axes[0].get_xticks()
    assert 1 < len(ticks) < 22
    assert np.all(np.diff(ticks) >= 0.025 * ticks.max())
    band = plot_qq(results).axes[0].collections[0]  # the confidence band, drawn first
    assert band.get_label() == "95 % confidence band"


def test_get_project_context__member_is_the_credentials_person_not_the_environment(
        config: GenomlabConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: the kernel's credentials file decides who the member is; ``JUPYTERHUB_USER``
    and ``GENOMLAB_LOCAL_USER`` naming alice change nothing."""
    from genomlab.platform.applications.demo import run_applications_demo
    from tests.people_credentials import credentials_for

    demo = run_applications_demo(config)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.setenv("GENOMLAB_LOCAL_USER", "alice")
    monkeypatch.setenv("GENOMLAB_CREDENTIALS", str(credentials_for(config, "mallory")))
    with pytest.raises(PermissionDenied, match="'mallory' holds no active entitlement"):
        get_project_context(config, require_release=False)
    alice = credentials_for(config, "alice")
    context = get_project_context(config, credentials=alice, require_release=False)
    assert (context.project_id, context.member) == (demo.project_id, "alice")
