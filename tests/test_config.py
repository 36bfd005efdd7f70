"""Configuration: defaults, overrides, and one-line errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genomlab.toml"
    path.write_text(text)
    return path


def test_load_config__defaults_put_stores_under_home(tmp_path: Path) -> None:
    cfg = load_config(environ={"GENOMLAB_HOME": str(tmp_path)})
    assert cfg.spark.master == "local[*]"
    assert cfg.disclosure.min_cell_count == 10
    assert cfg.store_url("platform") == f"sqlite:///{tmp_path}/platform/platform.db"
    assert cfg.store_url("grz", "GRZK00001") == f"sqlite:///{tmp_path}/grz/GRZK00001/grz.db"


def test_load_config__file_and_env_override(tmp_path: Path) -> None:
    path = _write(tmp_path, 'home = "h"\n[spark]\nmaster = "local[2]"\n[disclosure]\n'
                            "min_cell_count = 5\n")
    cfg = load_config(path, environ={"GENOMLAB_DISCLOSURE__MIN_CELL_COUNT": "20"})
    assert cfg.home == tmp_path / "h"  # relative to the file
    assert cfg.spark.master == "local[2]"
    assert cfg.disclosure.min_cell_count == 20


def test_load_config__explicit_stores_and_node_override(tmp_path: Path) -> None:
    path = _write(tmp_path, '[stores]\nplatform = "postgresql://p@127.0.0.1/platform"\n'
                            'trust_center = "sqlite:///{home}/tc.db"\n'
                            'data_service = "sqlite:///{home}/ds.db"\n'
                            '[stores.grz]\nGRZK00001 = "sqlite:///{home}/g1.db"\n')
    cfg = load_config(path, environ={"GENOMLAB_HOME": str(tmp_path)})
    assert cfg.store_url("platform").startswith("postgresql://")
    assert cfg.store_url("grz", "GRZK00001") == f"sqlite:///{tmp_path}/g1.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "genomlab.toml: colour: unknown key"),
        ("[spark]\nmastr = 'local'\n", "genomlab.toml: spark.mastr: unknown key"),
        ("[disclosure]\nmin_cell_count = 'ten'\n",
         "genomlab.toml: disclosure.min_cell_count: Input should be a valid integer"),
        ("[spark]\nmaster = 'mesos://x'\n", "genomlab.toml: spark.master: expected local[N]"),
        ('[stores]\nplatform = "sqlite:///p.db"\ndata_service = "sqlite:///d.db"\n',
         "genomlab.toml: stores.trust_center: missing required key"),
        ('[stores]\nplatform = "mysql://x"\ntrust_center = "sqlite:///t"\n'
         'data_service = "sqlite:///d"\n', "genomlab.toml: stores.platform: expected a sqlite"),
        ("home = \n", "genomlab.toml: not valid TOML"),
    ],
)
def test_load_config__invalid_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)
    assert "\n" not in str(info.value)


def test_load_config__invalid_env_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^GENOMLAB_SPARK__DRIVER_MEMORY: spark.driver_memory"):
        load_config(environ={"GENOMLAB_SPARK__DRIVER_MEMORY": "lots"})
    with pytest.raises(ConfigError, match=r"^GENOMLAB_COLOUR: colour: unknown key"):
        load_config(environ={"GENOMLAB_COLOUR": "blue"})


def test_store_url__bad_node_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not match the genomDE format"):
        load_config(environ={}).store_url("grz", "GRZ1")


def test_cli__bad_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = _write(tmp_path, "[spark]\nmaster = 3\n")
    result = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert "spark.master" in lines[0]
