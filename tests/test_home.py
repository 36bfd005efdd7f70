"""The home marker: genomlab deletes (``demo --fresh``) only a home it created itself."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError
from genomlab.home import HOME_MARKER, clear_home, ensure_home, is_marked_home
from genomlab.institution import Institution
from tests.conftest import REPO, config_for
from tests.file_modes import list_open_to_others

WORLD = REPO / "data_samples" / "world"


def _folder_with_unrelated_file(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "someone"
    folder.mkdir()
    precious = folder / "thesis.tex"
    precious.write_text("years of work")
    return folder, precious


def test_clear_home__refuses_a_folder_genomlab_did_not_create(tmp_path: Path) -> None:
    folder, precious = _folder_with_unrelated_file(tmp_path)
    with pytest.raises(GenomlabError, match=f"^{folder} is not a genomlab home"):
        clear_home(folder)
    assert precious.read_text() == "years of work"


def test_clear_home__refuses_a_marker_that_is_no_genomlab_marker(tmp_path: Path) -> None:
    folder, precious = _folder_with_unrelated_file(tmp_path)
    (folder / HOME_MARKER).write_text("not json")
    with pytest.raises(GenomlabError, match="not a genomlab home"):
        clear_home(folder)
    assert precious.exists()


def test_clear_home__refuses_a_link_to_a_home(tmp_path: Path) -> None:
    home = ensure_home(tmp_path / "home")
    link = tmp_path / "link"
    link.symlink_to(home)
    with pytest.raises(GenomlabError, match="symbolic link"):
        clear_home(link)
    assert is_marked_home(home)


def test_clear_home__missing_or_empty_folder_is_fine(tmp_path: Path) -> None:
    clear_home(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    clear_home(tmp_path / "empty")
    assert not (tmp_path / "missing").exists()


def test_clear_home__deletes_a_home_genomlab_created(config: GenomlabConfig) -> None:
    Institution(config, "platform").ledger()  # the first store creates the home and its marker
    assert is_marked_home(config.home)
    assert (config.home / "platform" / "keys").is_dir()
    clear_home(config.home)
    assert not config.home.exists()


def test_ensure_home__marks_only_new_or_empty_folders(tmp_path: Path) -> None:
    folder, _ = _folder_with_unrelated_file(tmp_path)
    ensure_home(folder)
    assert not (folder / HOME_MARKER).exists()
    (tmp_path / "empty").mkdir()
    assert is_marked_home(ensure_home(tmp_path / "empty"))


def test_cli_demo_fresh__refuses_an_unmarked_folder_before_any_work(tmp_path: Path) -> None:
    folder, precious = _folder_with_unrelated_file(tmp_path)
    result = CliRunner().invoke(main, ["demo", "--fresh", "--no-hail"],
                                env={"GENOMLAB_HOME": str(folder)})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {folder} is not a genomlab home (no {HOME_MARKER} marker); refusing to delete "
        "it -- set GENOMLAB_HOME to another folder"]
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]
    assert precious.read_text() == "years of work"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """A login's usual umask (022), so the test shows what genomlab sets, then the old one."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("umask_022")
def test_home__stores_and_tables_of_a_small_home_are_owner_only(tmp_path: Path) -> None:
    from genomlab.intake import register_world_nodes, request_world_case_numbers, run_kdk_intake

    world = tmp_path / "world"
    shutil.copytree(WORLD, world)
    config = config_for(tmp_path / "home")
    register_world_nodes(config, world, actor="test")  # platform
    request_world_case_numbers(config, world)  # trust centre
    run_kdk_intake(config, [world / "kdk"])  # KDK stores and Parquet tables
    written = {p.name.split(".", 1)[-1] for p in config.home.rglob("*") if p.is_file()}
    assert "parquet" in written
    if config.store_url("platform").startswith("sqlite"):
        assert {"db", "db-wal", "db-shm"} <= written
    assert list_open_to_others(config.home) == []
