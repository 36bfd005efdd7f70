"""Commands that only read refuse an unknown id, name the known ones, and write nothing.

A mistyped ``--node`` used to create a new institution with a store and a signing key, and
``ledger show -i foo`` ended in a traceback. Each read command runs here against a home that
holds two nodes of each kind, a workspace, the platform and the reports store, with an id that
does not exist; no file or folder may appear under the home, and no file outside the stores'
SQLite write-ahead logs may change (opening a store still checks its schema, which touches the
WAL; that is not a new institution).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.access_tokens import TOKEN_KEY
from tests.people_credentials import credentials_for

KNOWN_GRZ = ("GRZK00001", "GRZTUE002")
KNOWN_KDK = ("KDKTUE002", "KDKTUE005")
PROJECT = "GDE-2026-0001"

READ_COMMANDS = {
    "ledger verify -i unknown node": (["ledger", "verify", "-i", "grz:GRZK99999"],
                                      "unknown grz:GRZK99999 (known: grz:GRZK00001, "
                                      "grz:GRZTUE002)"),
    "ledger show -i unknown node": (["ledger", "show", "-i", "kdk:KDKTUE999"],
                                    "unknown kdk:KDKTUE999 (known: kdk:KDKTUE002, "
                                    "kdk:KDKTUE005)"),
    "ledger show -i no institution": (["ledger", "show", "-i", "foo"],
                                      "unknown institution 'foo'"),
    "grz status": (["grz", "status", "--node", "GRZK99999"], "known: grz:GRZK00001"),
    "grz select-qc": (["grz", "select-qc", "--node", "GRZK99999"], "known: grz:GRZK00001"),
    "grz report": (["grz", "report", "--node", "GRZK99999", "--year", "2026", "--quarter", "3",
                    "--out", "{tmp}/report"], "known: grz:GRZK00001"),
    "kdk status": (["kdk", "status", "--node", "KDKTUE999"], "known: kdk:KDKTUE002"),
    "platform apply show": (["platform", "apply", "show", "APP-999999"],
                            "application APP-999999 not found"),
    "platform review show": (["platform", "review", "show", "APP-999999"],
                             "application APP-999999 not found"),
    "airlock queue --project": (["airlock", "queue", "--project", "GDE-2026-9999"],
                                f"unknown project 'GDE-2026-9999' (known: {PROJECT})"),
    "reports history --name": (["reports", "history", "--name", "nosuch", "--schedule",
                                "{tmp}/no-schedule.toml"], "no report named 'nosuch'"),
}


def snapshot(home: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``home``; with size and modification time (ns) unless a WAL file."""
    return {str(p.relative_to(home)): None if p.name.endswith(("-wal", "-shm"))
            else (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(home.rglob("*"))}


@pytest.fixture
def populated_home(config: GenomlabConfig) -> GenomlabConfig:
    """Two GRZs, two KDKs, platform, airlock and reports stores, and one project workspace."""
    for kind, nodes in (("grz", KNOWN_GRZ), ("kdk", KNOWN_KDK)):
        for node in nodes:
            Institution(config, kind, node).ledger()
    for kind in ("platform", "airlock", "reports"):
        Institution(config, kind).ledger()  # type: ignore[arg-type]
    config.workspace_dir(PROJECT).mkdir(parents=True)
    credentials_for(config, "olivia")  # `airlock queue` acts as a verified person
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)  # made with the first token
    return config


@pytest.mark.parametrize(("args", "message"), list(READ_COMMANDS.values()),
                         ids=list(READ_COMMANDS))
def test_read_command__unknown_id_exits_non_zero_names_known_ids_and_writes_nothing(
        populated_home: GenomlabConfig, tmp_path: Path, args: list[str], message: str) -> None:
    home = populated_home.home
    before = snapshot(home)
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args],
                                env={"GENOMLAB_HOME": str(home), "GENOMLAB_CONFIG": "",
                                     "GENOMLAB_CREDENTIALS": str(home / "people" / "olivia"
                                                                 / "credentials.json")})
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: "), result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert snapshot(home) == before
    assert not (tmp_path / "report").exists()
