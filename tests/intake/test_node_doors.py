"""Intake at a GRZ and a KDK refuses a node the platform does not approve (issue 18).

A suspended node must not store data, use up a case number at the trust centre, or report:
the refusal comes first, names the node and its status, and leaves every store and ledger of
the home (platform, trust centre, nodes) as it was. No Hail: the refused run never gets to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from genomlab.intake import (
    get_pseudonym_service,
    make_platform_reporter,
    register_world_nodes,
    request_world_case_numbers,
    run_grz_intake,
    run_kdk_intake,
)
from genomlab.node_approval import NodeNotApproved
from genomlab.platform.nodes import NodeRegistry
from tests.conftest import write_config_file
from tests.node_doors import get_home_snapshot

WORLD = Path(__file__).resolve().parents[2] / "data_samples" / "world"
GRZ = "GRZK00001"
KDK = "KDKTUE005"


def _no_hail() -> Any:
    pytest.fail("a refused intake must not start Hail")


@pytest.fixture
def world_home(config: GenomlabConfig) -> GenomlabConfig:
    """Nodes approved, case numbers issued to the hospitals: the state before any intake."""
    register_world_nodes(config, WORLD, actor="test")
    request_world_case_numbers(config, WORLD)
    return config


def _case_books(config: GenomlabConfig) -> dict[str, bytes]:
    """Every hospital's case book as it is on disk (one book per LE, TAN → its case)."""
    return {str(p): p.read_bytes()
            for p in sorted((config.home / "hospitals").glob("*/case_book.json"))}


def _grz_submissions(tmp_path: Path, n: int = 2) -> list[Path]:
    """Copies of the world's first ``n`` initial submissions sent to ``GRZ``."""
    truth = json.loads((WORLD / "truth.json").read_text())
    chosen = [s for s in truth["submissions"] if s["grz"] == GRZ and s["type"] == "initial"][:n]
    copies = []
    for sub in chosen:
        target = tmp_path / "inbox" / Path(sub["path"]).name
        shutil.copytree(WORLD / sub["path"], target)
        copies.append(target)
    return copies


def _kdk_records(tmp_path: Path) -> list[Path]:
    target = tmp_path / "kdk-inbox"
    shutil.copytree(WORLD / "kdk" / KDK / "records", target)
    return sorted(target.glob("*.json"))


def test_run_grz_intake__suspended_grz_refused_nothing_stored(world_home: GenomlabConfig,
                                                              tmp_path: Path) -> None:
    NodeRegistry(world_home).suspend(GRZ, actor="bfarm", reason="audit finding")
    before, books = get_home_snapshot(world_home), _case_books(world_home)
    with pytest.raises(NodeNotApproved, match=f"GRZ {GRZ} intake: node {GRZ} is suspended"):
        run_grz_intake(world_home, _grz_submissions(tmp_path), node_id=GRZ, hail=_no_hail)
    assert get_home_snapshot(world_home) == before  # no store, ledger or case number touched
    assert not (world_home.home / "grz" / GRZ).exists()  # not even an empty store
    assert books  # the hospitals hold their TANs
    assert _case_books(world_home) == books


def test_genome_center_submit__revoked_grz_refused_before_anything(world_home: GenomlabConfig,
                                                                   tmp_path: Path) -> None:
    node = GenomeCenter(world_home, GRZ)  # the node's own door, without the intake root
    NodeRegistry(world_home).revoke(GRZ, actor="bfarm", reason="approval withdrawn")
    before = get_home_snapshot(world_home)
    with pytest.raises(NodeNotApproved, match=f"node {GRZ} is revoked"):
        node.submit(_grz_submissions(tmp_path), get_pseudonym_service(world_home),
                    reporter=make_platform_reporter(world_home, GRZ), hail=_no_hail)
    assert get_home_snapshot(world_home) == before
    assert node.list_items() == []


def test_run_kdk_intake__suspended_kdk_refused_nothing_stored(world_home: GenomlabConfig,
                                                              tmp_path: Path) -> None:
    NodeRegistry(world_home).suspend(KDK, actor="bfarm", reason="audit finding")
    before = get_home_snapshot(world_home)
    with pytest.raises(NodeNotApproved, match=f"KDK {KDK} intake: node {KDK} is suspended"):
        run_kdk_intake(world_home, _kdk_records(tmp_path), node_id=KDK)
    assert get_home_snapshot(world_home) == before
    assert not (world_home.home / "kdk" / KDK).exists()


def test_kdk_submit_cli__suspended_kdk_exits_non_zero_naming_node_and_status(
        world_home: GenomlabConfig, tmp_path: Path) -> None:
    NodeRegistry(world_home).suspend(KDK, actor="bfarm", reason="audit finding")
    before = get_home_snapshot(world_home)
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(world_home, tmp_path / "genomlab.toml")),
        "kdk", "submit", "--node", KDK, *map(str, _kdk_records(tmp_path))])
    assert result.exit_code == 1, result.output
    assert f"node {KDK} is suspended, not approved by the platform" in result.output
    assert get_home_snapshot(world_home) == before


def test_run_kdk_intake__unregistered_kdk_refused(world_home: GenomlabConfig,
                                                  tmp_path: Path) -> None:
    before = get_home_snapshot(world_home)
    with pytest.raises(NodeNotApproved, match="node KDKZZZ999 is not registered"):
        run_kdk_intake(world_home, _kdk_records(tmp_path)[:1], node_id="KDKZZZ999")
    assert get_home_snapshot(world_home) == before
