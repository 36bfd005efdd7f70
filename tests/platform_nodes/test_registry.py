"""Node registry and Meldebestätigung: decisions, refusals, signatures, offline verification."""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path

import grz_pydantic_models_testing.example_pruefberichte as examples
import pytest

from genomlab.errors import ConflictError, PermissionDenied, ValidationFailed
from genomlab.ledger import projection_matches
from genomlab.messages import SignatureError
from genomlab.platform.confirmations import (
    confirmation_bytes,
    get_confirmation_public_key_pem,
    receive_pruefbericht,
    verify_confirmation_bytes,
)
from genomlab.platform.nodes import NODE_PROJECTION, NodeRegistry

EXAMPLE = json.loads(importlib.resources.files(examples)
                     .joinpath("submission_example.json").read_text())
NODE = EXAMPLE["SubmittedCase"]["dataNodeId"]


def _report(**changes: object) -> dict:
    return {"SubmittedCase": {**EXAMPLE["SubmittedCase"], **changes}}


@pytest.fixture
def registry(config):
    registry = NodeRegistry(config)
    registry.apply(NODE, name="KDK example", actor="op")
    return registry


def test_receive_pruefbericht__bfarm_example_from_approved_node_confirmed(config, registry):
    registry.approve(NODE, actor="bfarm")
    document = receive_pruefbericht(config, NODE, EXAMPLE, actor=f"node:{NODE}")
    body = verify_confirmation_bytes(confirmation_bytes(document),
                                     get_confirmation_public_key_pem(config))
    case = EXAMPLE["SubmittedCase"]
    assert (body["tan"], body["data_category"], body["indication"], body["meldung_type"]) == (
        case["tan"], case["dataCategory"], case["diseaseType"], case["submissionType"])
    assert body["sequencing_type"] == "large panel"
    assert body["complete"] is True
    assert body["ibe_string"].startswith(f"IBE+{body['confirmation_id'][-10:]}+")
    assert projection_matches(registry.ledger, NODE_PROJECTION) == []


def test_receive_pruefbericht__same_report_twice_gives_same_document(config, registry):
    registry.approve(NODE, actor="bfarm")
    first = receive_pruefbericht(config, NODE, EXAMPLE, actor="n")
    again = receive_pruefbericht(config, NODE, EXAMPLE, actor="n")
    assert confirmation_bytes(first) == confirmation_bytes(again)
    with pytest.raises(ConflictError, match="tan"):
        receive_pruefbericht(config, NODE, _report(dataQualityCheckPassed=False), actor="n")


def test_receive_pruefbericht__passed_report_after_a_failed_one_confirmed_complete(config,
                                                                                 registry):
    """A corrected resubmission (same TAN, same node) after an incomplete confirmation."""
    registry.approve(NODE, actor="bfarm")
    pem = get_confirmation_public_key_pem(config)
    failed = receive_pruefbericht(config, NODE, _report(dataQualityCheckPassed=False), actor="n")
    corrected = receive_pruefbericht(config, NODE, EXAMPLE, actor="n")
    first, second = (verify_confirmation_bytes(confirmation_bytes(d), pem)
                     for d in (failed, corrected))
    assert (first["complete"], second["complete"]) == (False, True)
    assert second["confirmation_id"] != first["confirmation_id"]
    (event,) = [e for e in registry.ledger.events(type="pruefbericht.confirmed")
                if e.payload["qc_passed"]]
    assert event.payload["replaces"] == first["confirmation_id"]
    assert confirmation_bytes(receive_pruefbericht(config, NODE, EXAMPLE, actor="n")) == \
        confirmation_bytes(corrected)
    with pytest.raises(ConflictError, match="tan"):  # a passed TAN never fails afterwards
        receive_pruefbericht(config, NODE, _report(dataQualityCheckPassed=False), actor="n")
    assert projection_matches(registry.ledger, NODE_PROJECTION) == []


@pytest.mark.parametrize("decision", ["applied", "suspend", "revoke"])
def test_receive_pruefbericht__node_not_approved_refused_and_recorded(config, registry, decision):
    if decision != "applied":
        registry.approve(NODE, actor="bfarm")
        getattr(registry, decision)(NODE, actor="bfarm", reason="audit finding")
    with pytest.raises(PermissionDenied, match=NODE):
        receive_pruefbericht(config, NODE, EXAMPLE, actor="n")
    refused = list(registry.ledger.events(type="pruefbericht.refused"))
    assert len(refused) == 1
    assert NODE in refused[0].payload["reason"]
    assert projection_matches(registry.ledger, NODE_PROJECTION) == []


def test_receive_pruefbericht__wrong_node_or_category_names_field(config, registry):
    registry.approve(NODE, actor="bfarm")
    registry.apply("GRZK00001", name="GRZ", actor="op")
    registry.approve("GRZK00001", actor="bfarm")
    with pytest.raises(ValidationFailed, match=r"SubmittedCase\.dataNodeId"):
        receive_pruefbericht(config, "GRZK00001", EXAMPLE, actor="n")
    with pytest.raises(ValidationFailed, match=r"SubmittedCase\.dataCategory"):
        receive_pruefbericht(config, NODE, _report(dataCategory="genomic"), actor="n")
    with pytest.raises(ValidationFailed, match=r"SubmittedCase\.tan"):
        receive_pruefbericht(config, NODE, _report(tan="0" * 64), actor="n")
    with pytest.raises(ValidationFailed, match="libraryType"):
        receive_pruefbericht(config, NODE, _report(libraryType="exome"), actor="n")


def test_registry__revoked_node_cannot_be_approved_again(registry):
    registry.revoke(NODE, actor="bfarm", reason="left the model project")
    with pytest.raises(ConflictError, match="revoked"):
        registry.approve(NODE, actor="bfarm")
    assert registry.get_node(NODE)["status"] == "revoked"


def test_verify_confirmation__any_altered_byte_refused(config, registry):
    registry.approve(NODE, actor="bfarm")
    data = confirmation_bytes(receive_pruefbericht(config, NODE, EXAMPLE, actor="n"))
    pem = get_confirmation_public_key_pem(config)
    for position in range(0, len(data), max(1, len(data) // 40)):
        altered = bytearray(data)
        altered[position] ^= 0x01
        with pytest.raises(SignatureError):
            verify_confirmation_bytes(bytes(altered), pem)
    with pytest.raises(SignatureError):
        verify_confirmation_bytes(data + b" ", pem)


def test_verify_confirmation_cli__only_public_key_on_another_machine(config, registry, tmp_path):
    registry.approve(NODE, actor="bfarm")
    insurer = tmp_path / "insurer"
    insurer.mkdir()
    document = insurer / "mb.json"
    document.write_bytes(confirmation_bytes(receive_pruefbericht(config, NODE, EXAMPLE,
                                                                 actor="n")))
    key = insurer / "platform.pub.pem"
    key.write_bytes(get_confirmation_public_key_pem(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENOMLAB_")}
    env["GENOMLAB_HOME"] = str(insurer / "empty-home")
    run = [str(Path(sys.executable).parent / "genomlab"), "platform", "verify-confirmation",
           str(document), "--public-key", str(key)]
    ok = subprocess.run(run, env=env, capture_output=True, text=True, cwd=insurer)
    assert ok.returncode == 0, ok.stderr
    assert "valid:" in ok.stdout
    assert NODE in ok.stdout
    assert not (insurer / "empty-home").exists()
    document.write_bytes(document.read_bytes().replace(b'"complete":true', b'"complete":false'))
    bad = subprocess.run(run, env=env, capture_output=True, text=True, cwd=insurer)
    assert bad.returncode == 1
    assert "Error: meldebestaetigung" in bad.stderr


def test_nodes_cli__apply_approve_list(config, tmp_path):
    from click.testing import CliRunner

    from genomlab.cli import main
    from tests.conftest import write_config_file

    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    runner = CliRunner()
    for args in (["apply", "GRZTUE002", "--name", "GRZ Tübingen"], ["approve", "GRZTUE002"],
                 ["suspend", "GRZTUE002", "--reason", "audit"]):
        result = runner.invoke(main, ["--config", str(cfg), "platform", "nodes", *args])
        assert result.exit_code == 0, result.output
    listed = runner.invoke(main, ["--config", str(cfg), "platform", "nodes", "list"])
    assert "GRZTUE002" in listed.output
    assert "suspended" in listed.output
    bad = runner.invoke(main, ["--config", str(cfg), "platform", "nodes", "apply", "XYZ",
                               "--name", "x"])
    assert bad.exit_code == 1
    assert "node_id" in bad.output
    assert Path(config.home / "platform").is_dir()


def test_issue_client__airlock_node_kind_gets_project_and_register_scopes(config) -> None:
    """The airlock is a node kind of its own (``AIRLOCK…``): its client may read people's
    status and project membership and record releases, nothing a GRZ or the trust centre may."""
    from genomlab.platform.nodes import get_node_kind
    from genomlab.platform.oauth_clients import issue_client

    assert get_node_kind("AIRLOCK") == "airlock"
    assert get_node_kind("VSTAIRLOCK") == "trust_center"
    registry = NodeRegistry(config)
    registry.ensure_approved("AIRLOCK", name="Airlock", actor="operator:test")
    assert registry.get_node("AIRLOCK")["kind"] == "airlock"
    issued = issue_client(config, "AIRLOCK", actor="operator:test")
    assert issued.scope.split() == ["status:read", "projects:read", "register:write"]
    registry.ensure_approved("VSTRKI", name="trust centre", actor="operator:test")
    assert issue_client(config, "VSTRKI", actor="operator:test").scope.split() == [
        "status:read", "datasets:attributes"]  # the trust centre reads nodes' attributes
