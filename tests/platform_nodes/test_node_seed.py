"""The nodes BfArM's project page lists: seeded into the registry and shown to the dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.errors import ValidationFailed
from genomlab.platform.confirmations import parse_pruefbericht
from genomlab.platform.node_seed import (
    get_registered_nodes_frame,
    get_seed_nodes,
    get_seed_source,
    seed_nodes,
)
from genomlab.platform.nodes import NODE_ID_PATTERNS, NodeRegistry
from tests.conftest import write_config_file


def test_get_seed_source__names_page_date_and_what_is_missing():
    source = get_seed_source()
    assert source["url"].startswith("https://www.bfarm.de/")
    assert (source["as_of"], source["listed"]) == ("2024-12-31", {"kdk": 7, "grz": 6})
    shipped = {kind: sum(n["kind"] == kind for n in get_seed_nodes()) for kind in ("kdk", "grz")}
    assert {kind: source["listed"][kind] - shipped[kind] for kind in shipped} == \
        source["missing"]


def test_seed_nodes__listed_nodes_in_registry_and_dashboard_frame(config):
    added = seed_nodes(config, actor="bfarm")
    frame = get_registered_nodes_frame(config)
    assert sorted(added) == sorted(frame["node_id"].to_list())
    assert sorted(frame["name"].to_list()) == sorted(n["name"] for n in get_seed_nodes())
    assert set(frame["status"].to_list()) == {"approved"}
    assert frame.filter(frame["kind"] == "grz").height == 6
    heidelberg = frame.filter(frame["name"] == "GRZ Heidelberg").row(0, named=True)
    assert (heidelberg["node_id"], heidelberg["public_id"]) == ("GRZHD0003", "GRZHD0003")
    unpublished = frame.filter(frame["public_id"].is_null())
    assert sorted(unpublished["name"].to_list()) == ["KDK NCT/MASTER", "KDK nNGM", "KDK zKDK-ET"]
    assert seed_nodes(config, actor="bfarm") == []


def test_seed_nodes__registered_node_keeps_its_status(config):
    registry = NodeRegistry(config)
    registry.ensure_approved("GRZK00001", name="GRZ Köln", actor="op")
    registry.suspend("GRZK00001", actor="bfarm", reason="audit")
    assert "GRZK00001" not in seed_nodes(config, actor="bfarm")
    assert registry.get_node("GRZK00001")["status"] == "suspended"


def test_get_seed_nodes__placeholder_ids_cannot_pass_for_real_ones():
    placeholders = [n["registry_id"] for n in get_seed_nodes() if n["public_id"] is None]
    assert placeholders
    for node_id in placeholders:
        assert not any(p.match(node_id) for p in NODE_ID_PATTERNS.values())
        case = {"submissionDate": "2025-07-01", "submissionType": "initial", "tan": "ab" * 32,
                "submitterId": "260530103", "dataNodeId": node_id, "diseaseType": "rare",
                "dataCategory": "clinical", "libraryType": "wgs", "coverageType": "GKV",
                "dataQualityCheckPassed": True}
        with pytest.raises(ValidationFailed, match="dataNodeId"):
            parse_pruefbericht({"SubmittedCase": case})


def test_nodes_cli__seed_then_list(config, tmp_path: Path):
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    runner = CliRunner()
    seeded = runner.invoke(main, ["--config", str(cfg), "platform", "nodes", "seed"])
    assert seeded.exit_code == 0, seeded.output
    assert "11 node(s) registered" in seeded.output
    assert "2024-12-31" in seeded.output
    listed = runner.invoke(main, ["--config", str(cfg), "platform", "nodes", "list"]).output
    assert "GRZTUE002" in listed
    assert "GRZ Tübingen" in listed
    assert "UNPUB-KDK-NNGM" in listed
    assert "KDK nNGM" in listed
