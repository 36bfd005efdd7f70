"""``qc run`` / ``analysis association --release``: the entitlement check of ``open_release``
runs before anything of the release is read and before Hail (Spark) starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
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


def _run_qc(config: GenomlabConfig, tmp_path: Path, release: Path, user: str,
            monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("JUPYTERHUB_USER", user)
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
    monkeypatch.setenv("JUPYTERHUB_USER", "mallory")
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
