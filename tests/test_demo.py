"""``genomlab demo`` and the CLI surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.demo import run_demo
from genomlab.institution import existing_institutions
from tests.conftest import config_for


def test_cli_help__lists_the_command_groups() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for group in ("config", "ledger", "demo"):
        assert f"\n  {group} " in result.output


def test_cli_demo_help__documents_its_options() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--fresh", "--master", "--no-hail"):
        assert option in result.output


@pytest.mark.hail
@pytest.mark.slow
def test_run_demo__initialises_institutions_and_is_idempotent(hl: Any, tmp_path: Path) -> None:
    config = config_for(tmp_path / "home")
    first = run_demo(config, master="local[2]", echo=lambda _: None)
    assert first.figures["hail"].startswith("ok on local[2]")
    names = {inst.name for inst in existing_institutions(config)}
    assert {"platform", "trust_center", "data_service", "grz:GRZK00001", "kdk:KDKTUE005"} <= names
    heads = {inst.name: inst.ledger().head() for inst in existing_institutions(config)}
    run_demo(config, master="local[2]", echo=lambda _: None)
    assert {inst.name: inst.ledger().head() for inst in existing_institutions(config)} == heads
    key = config.home / "trust_center" / "keys" / "ledger.ed25519.pem"
    assert key.stat().st_mode & 0o777 == 0o600


def test_cli_demo__no_hail_prints_where_things_are(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["demo", "--no-hail"], env={"GENOMLAB_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert f"home (stores, keys, ledgers): {home}" in result.output
    assert "jupyter lab" in result.output
    assert "ledger events verified: 7" in result.output
