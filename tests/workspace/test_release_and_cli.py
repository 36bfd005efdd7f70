"""A release (genotypes.mt + clinical Parquet keyed by s) and `genomlab workspace qc run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.workspace.io import read_release_samples, read_samples_tsv
from tests.conftest import write_config_file
from tests.platform.conftest import approve_application
from tests.workspace.conftest import COMMITTED_WORLD

pytestmark = [pytest.mark.hail, pytest.mark.slow]


@pytest.fixture(scope="module")
def release(small_mt: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed world as the data service will release it (sex + phenotypes, no pedigree)."""
    out = tmp_path_factory.mktemp("release")
    small_mt.write(str(out / "genotypes.mt"))
    info = read_samples_tsv(COMMITTED_WORLD / "genotypes" / "samples.tsv")
    clinical = pd.DataFrame({"s": info.index, "sex": info["reported_sex"],
                             "quant_trait": info["quant_trait"]})
    clinical.to_parquet(out / "clinical.parquet")
    return out


def test_read_release_samples__takes_sex_from_parquet(release: Path,
                                                      config: GenomlabConfig) -> None:
    workspace_release = config.workspace_dir(approve_application(config)[0]) / "release"
    shutil.copytree(release, workspace_release)
    (workspace_release / "manifest.json").write_text('{"level": "individual"}')
    info = read_release_samples(workspace_release, config=config, user="alice")
    assert info.index.name == "s"
    assert set(info["reported_sex"].dropna()) == {"male", "female"}
    assert (info["father"] == "0").all()
    assert (info["family"] == info.index).all()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "crypt4gh"])
def test_qc_run__release_mode_via_cli(release: Path, config: GenomlabConfig, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, encrypted: bool) -> None:
    truth = json.loads((COMMITTED_WORLD / "truth.json").read_text())
    project = approve_application(config)[0]
    workspace_release = config.workspace_dir(project) / "release"
    shutil.copytree(release, workspace_release)
    manifest: dict[str, Any] = {"level": "individual", "release_id": "r1"}
    if encrypted:  # as the data service writes it: decrypted into alice's scratch by the reader
        from genomlab.workspace.crypt4gh_release import encrypt_release_tree, ensure_project_key

        manifest["encryption"] = encrypt_release_tree(workspace_release,
                                                      ensure_project_key(config, project))
        assert not (workspace_release / "genotypes.mt").exists()
    (workspace_release / "manifest.json").write_text(json.dumps(manifest))
    from tests.people_credentials import credentials_for

    monkeypatch.setenv("GENOMLAB_CREDENTIALS", str(credentials_for(config, "alice")))
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    out = tmp_path / "qc"
    result = CliRunner().invoke(main, ["--config", str(cfg), "workspace", "qc", "run", "--release",
                                       str(workspace_release), "--out", str(out),
                                       "--spark-master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert "samples" in result.output
    assert "failing" in result.output
    samples = pd.read_csv(out / "sample_qc.tsv", sep="\t", keep_default_na=False)
    assert len(samples) == len(truth["samples"])
    flagged = set(samples.loc[samples["reasons"].str.contains("sex_mismatch"), "sample"])
    assert flagged == set(truth["faults"]["sex_mismatch"])
    low = set(samples.loc[samples["reasons"].str.contains("call_rate"), "sample"])
    assert low == set(truth["faults"]["low_call_rate"])
    scratch_copy = config.workspace_dir(project) / "scratch" / "alice" / "release-r1"
    assert (scratch_copy / "genotypes.mt").is_dir() == encrypted


def test_qc_run__refuses_without_a_source(config: GenomlabConfig, tmp_path: Path) -> None:
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    result = CliRunner().invoke(main, ["--config", str(cfg), "workspace", "qc", "run", "--out",
                                       str(tmp_path / "qc")])
    assert result.exit_code == 1
    assert "Error: give exactly one of --vcf or --release" in result.output


def test_qc_run__help_names_outputs() -> None:
    result = CliRunner().invoke(main, ["workspace", "qc", "run", "--help"])
    assert result.exit_code == 0
    assert "sample_qc.tsv" in result.output
    assert "--release" in result.output
