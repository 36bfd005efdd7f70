"""``qc run`` / ``analysis association --release``: the entitlement check of ``open_release``
runs before anything of the release is read and before Hail (Spark) starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.errors import PermissionDenied
from tests.conftest import write_config_file
from tests.platform.conftest import approve_application


class HailStarted(Exception):
    """Raised by the stand-in Hail starter: reaching it means the check let the caller through."""


@pytest.fixture
def hail_starts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Calls of ``init_hail`` (each raises :class:`HailStarted` instead of starting Spark)."""
    calls: list[Any] = []

    def start(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        raise HailStarted

    monkeypatch.setattr("genomlab.hail_session.init_hail", start)
    return calls


@pytest.fixture
def project_release(config: GenomlabConfig) -> Path:
    """The release folder of an approved project (alice applied); only a manifest in it."""
    release = config.workspace_dir(approve_application(config)[0]) / "release"
    release.mkdir(parents=True)
    (release / "manifest.json").write_text('{"level": "individual"}')
    return release


def _act_as(config: GenomlabConfig, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``user``'s credentials file for this process; the environment's names say someone else
    (they decide nothing, issue 15)."""
    from tests.people_credentials import credentials_for

    monkeypatch.setenv("GENOMLAB_CREDENTIALS", str(credentials_for(config, user)))
    other = "mallory" if user == "alice" else "alice"
    monkeypatch.setenv("JUPYTERHUB_USER", other)
    monkeypatch.setenv("GENOMLAB_LOCAL_USER", other)


def _run_qc(config: GenomlabConfig, tmp_path: Path, release: Path, user: str,
            monkeypatch: pytest.MonkeyPatch) -> Any:
    _act_as(config, user, monkeypatch)
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    return CliRunner().invoke(main, ["--config", str(cfg), "workspace", "qc", "run", "--release",
                                     str(release), "--out", str(tmp_path / "qc")])


def test_qc_run__refuses_a_release_folder_outside_the_workspaces(
        config: GenomlabConfig, tmp_path: Path, hail_starts: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "copied-release"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"level": "individual"}')
    result = _run_qc(config, tmp_path, folder, "alice", monkeypatch)
    assert result.exit_code == 1, result.output
    assert f"Error: {folder}: not a project's release" in result.output
    assert hail_starts == []


def test_qc_run__refuses_a_user_off_the_team_before_hail_starts(
        config: GenomlabConfig, tmp_path: Path, project_release: Path, hail_starts: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_qc(config, tmp_path, project_release, "mallory", monkeypatch)
    assert result.exit_code == 1, result.output
    assert "Error: user 'mallory' is not on the approved team" in result.output
    assert hail_starts == []


def test_qc_run__lets_an_entitled_member_reach_hail(
        config: GenomlabConfig, tmp_path: Path, project_release: Path, hail_starts: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run_qc(config, tmp_path, project_release, "alice", monkeypatch)
    assert isinstance(result.exception, HailStarted), result.output
    assert len(hail_starts) == 1


def test_analysis_association__refuses_a_user_off_the_team_before_hail_starts(
        config: GenomlabConfig, tmp_path: Path, project_release: Path, hail_starts: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _act_as(config, "mallory", monkeypatch)
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    qc_dir = tmp_path / "qc"
    qc_dir.mkdir()
    result = CliRunner().invoke(main, [
        "--config", str(cfg), "workspace", "analysis", "association", "--release",
        str(project_release), "--out", str(tmp_path / "gwas"), "--qc", str(qc_dir),
        "--phenotype", "quant_trait"])
    assert result.exit_code == 1, result.output
    assert "Error: user 'mallory' is not on the approved team" in result.output
    assert hail_starts == []


class HailTrap:
    """A stand-in ``hl`` whose first use raises :class:`HailStarted`: the check let it through."""

    def __getattr__(self, name: str) -> Any:
        raise HailStarted(name)


HAIL_TRAP: Any = HailTrap()


def _clinical_parquet(folder: Path) -> Path:
    """A release-like folder with a clinical table keyed by ``s`` (synthetic)."""
    import polars as pl

    (folder / "clinical").mkdir(parents=True, exist_ok=True)
    (folder / "genotypes.mt").mkdir(exist_ok=True)  # empty: Hail would be the next to read
    (folder / "manifest.json").write_text('{"level": "individual"}')
    pl.DataFrame({"s": ["P1", "P2"], "sex": ["female", "male"]}).write_parquet(
        folder / "clinical" / "persons.parquet")
    return folder


@pytest.fixture
def home_env(config: GenomlabConfig, monkeypatch: pytest.MonkeyPatch) -> GenomlabConfig:
    """``config``'s home as the environment's (what a notebook's ``load_config()`` finds)."""
    monkeypatch.setenv("GENOMLAB_HOME", str(config.home))
    monkeypatch.delenv("GENOMLAB_CONFIG", raising=False)
    return config


def test_read_release_samples__refuses_a_folder_outside_the_workspaces(
        home_env: GenomlabConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genomlab.workspace.io import read_release_samples

    approve_application(home_env)
    _act_as(home_env, "alice", monkeypatch)
    folder = _clinical_parquet(tmp_path / "copied-release")
    with pytest.raises(PermissionDenied, match="copied-release: not a project's release"):
        read_release_samples(folder)


def test_read_sample_info__refuses_a_user_off_the_team(
        home_env: GenomlabConfig, project_release: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from genomlab.workspace.io import read_sample_info

    _clinical_parquet(project_release)
    _act_as(home_env, "mallory", monkeypatch)
    with pytest.raises(PermissionDenied, match="user 'mallory' is not on the approved team"):
        read_sample_info(release=project_release)


def test_run_cohort_qc__refuses_a_user_off_the_team_before_hail(
        home_env: GenomlabConfig, project_release: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    _clinical_parquet(project_release)
    _act_as(home_env, "mallory", monkeypatch)
    with pytest.raises(PermissionDenied, match="user 'mallory' is not on the approved team"):
        run_cohort_qc(HAIL_TRAP, tmp_path / "qc", release=project_release)
    assert not (tmp_path / "qc").exists()


def test_run_association__refuses_a_folder_outside_the_workspaces_before_hail(
        home_env: GenomlabConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genomlab.workspace.analysis.association import run_association

    approve_application(home_env)
    _act_as(home_env, "alice", monkeypatch)
    folder = _clinical_parquet(tmp_path / "copied-release")
    qc_dir = tmp_path / "qc"
    qc_dir.mkdir()
    with pytest.raises(PermissionDenied, match="copied-release: not a project's release"):
        run_association(HAIL_TRAP, tmp_path / "gwas", qc_dir=qc_dir, phenotype="sex",
                        release=folder)
    assert not (tmp_path / "gwas").exists()


def test_run_cohort_qc__lets_an_entitled_member_reach_hail(
        home_env: GenomlabConfig, project_release: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from genomlab.workspace.qc.pipeline import run_cohort_qc

    _clinical_parquet(project_release)
    _act_as(home_env, "alice", monkeypatch)
    with pytest.raises(HailStarted):
        run_cohort_qc(HAIL_TRAP, tmp_path / "qc", release=project_release)
