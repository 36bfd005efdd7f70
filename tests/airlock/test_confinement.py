"""``airlock check`` and release requests read nothing outside the workspace's outputs/ folder:
``..``, absolute paths elsewhere and symlinks leaving outputs/ (also a figure's data file) are
refused with a one-line error before anything is read, and nothing is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genomlab.airlock.requests import airlock_dir, get_queue, submit_request
from genomlab.cli import main
from genomlab.errors import PermissionDenied
from tests.airlock.conftest import Project
from tests.conftest import write_config_file

SECRET = "sex,n\nF,60\nM,55\n"


def _secret_beside_outputs(project: Project) -> Path:
    """A table in the workspace but outside outputs/ (where the release lives)."""
    secret = project.outputs.parent / "release" / "secret.csv"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(SECRET)
    return secret


def _check(project: Project, tmp_path: Path, *names: str) -> Result:
    cfg = write_config_file(project.config, tmp_path / "genomlab.toml")
    from tests.people_credentials import credentials_for

    alice = str(credentials_for(project.config, "alice"))
    return CliRunner().invoke(main, ["--config", str(cfg), "airlock", "check", project.project,
                                     *names], env={"GENOMLAB_CREDENTIALS": alice})


def _assert_refused(result: Result, name: str, project: Project) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"Error: {name}: outside {project.outputs}; only files under it can be checked or "
        "released"]
    assert get_queue(project.config, statuses=None) == []


def test_check__refuses_a_parent_path(project: Project, tmp_path: Path) -> None:
    _secret_beside_outputs(project)
    _assert_refused(_check(project, tmp_path, "../release/secret.csv"),
                    "../release/secret.csv", project)


def test_check__refuses_an_absolute_path_elsewhere(project: Project, tmp_path: Path) -> None:
    secret = str(_secret_beside_outputs(project))
    _assert_refused(_check(project, tmp_path, secret), secret, project)


def test_check__refuses_a_symlink_leaving_outputs(project: Project, tmp_path: Path) -> None:
    (project.outputs / "link.csv").symlink_to(_secret_beside_outputs(project))
    _assert_refused(_check(project, tmp_path, "link.csv"), "link.csv", project)


def test_check__refuses_figure_data_linked_from_outside(project: Project,
                                                        tmp_path: Path) -> None:
    project.write("plot.png", "not really a png")
    (project.outputs / "plot.csv").symlink_to(_secret_beside_outputs(project))
    _assert_refused(_check(project, tmp_path, "plot.png"), "plot.png (its data plot.csv)",
                    project)


def test_check__follows_a_symlink_inside_outputs(project: Project, tmp_path: Path) -> None:
    project.write("by_sex.csv", SECRET)
    (project.outputs / "alias.csv").symlink_to(project.outputs / "by_sex.csv")
    result = _check(project, tmp_path, "alias.csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["alias.csv: pass", "differencing: pass"]


def test_submit_request__refuses_figure_data_linked_from_outside(project: Project) -> None:
    project.write("plot.png", "not really a png")
    (project.outputs / "plot.csv").symlink_to(_secret_beside_outputs(project))
    with pytest.raises(PermissionDenied, match=r"plot\.png \(its data plot\.csv\): outside"):
        submit_request(project.config, project.directory, "alice", project.project,
                       ["plot.png"], justification="figure")
    assert get_queue(project.config, statuses=None) == []
    assert list((airlock_dir(project.config) / "requests").iterdir()) == []
