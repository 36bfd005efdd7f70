"""What a GRZ's or KDK's service needs before it starts: its node's own platform client.

``genomlab serve all`` and ``genomlab deploy setup`` make it
(:func:`genomlab.deploy.launch.ensure_service_prerequisites`) for every node instance of the
home, only for a node the platform approves; no subprocess here.
"""

from __future__ import annotations

import stat

import pytest

from genomlab.clients.oauth import get_credentials_path, load_client_credentials
from genomlab.deploy.launch import ensure_service_prerequisites, get_service_instances
from genomlab.errors import PermissionDenied, ValidationFailed
from genomlab.institution import Institution
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import list_clients
from genomlab.services.runner import serve
from tests.conftest import config_for


def test_ensure_service_prerequisites__each_approved_node_gets_its_own_client(tmp_path):
    config = config_for(tmp_path / "home")
    registry = NodeRegistry(config)
    for node in ("KDKK00001", "GRZK00001"):
        registry.ensure_approved(node, name=node, actor="bfarm-op")
    kdk = Institution(config, "kdk", "KDKK00001").directory
    grz = Institution(config, "grz", "GRZK00001").directory
    kdk.mkdir(parents=True)
    grz.mkdir(parents=True)
    assert "kdk:KDKK00001" in [i.name for i in get_service_instances(config)]

    made = ensure_service_prerequisites(config, actor="operator:test")

    for folder, node in ((kdk, "KDKK00001"), (grz, "GRZK00001")):
        path = get_credentials_path(folder)
        assert path in made
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        credentials = load_client_credentials(path)
        assert credentials.node_id == node
        active = [
            c for c in list_clients(config) if c["node_id"] == node and c["status"] == "active"
        ]
        assert [c["client_id"] for c in active] == [credentials.client_id]
        assert "status:read" in active[0]["scope"].split()  # it asks its own approval
    assert ensure_service_prerequisites(config, actor="operator:test") == []


def test_ensure_service_prerequisites__suspended_node_gets_no_client(tmp_path):
    config = config_for(tmp_path / "home")
    registry = NodeRegistry(config)
    registry.ensure_approved("KDKK00001", name="KDK", actor="bfarm-op")
    registry.suspend("KDKK00001", actor="bfarm-op", reason="audit")
    folder = Institution(config, "kdk", "KDKK00001").directory
    folder.mkdir(parents=True)
    with pytest.raises(PermissionDenied, match="KDKK00001"):
        ensure_service_prerequisites(config, actor="operator:test")
    assert not get_credentials_path(folder).exists()


def test_serve__node_kind_without_node_refused(tmp_path):
    config = config_for(tmp_path / "home")
    with pytest.raises(ValidationFailed, match="field --node"):
        serve(config, "kdk", None, host="127.0.0.1", port=0, announce=print)
    assert not (config.home / "services").exists() or not list(
        (config.home / "services").glob("kdk*")
    )


def test_make_platform_reporter__node_without_hospital_access_files_in_its_outbox(
    tmp_path, monkeypatch
):
    import os

    from genomlab.intake import get_case_book, make_platform_reporter
    from genomlab.platform.confirmations import (
        get_confirmation_public_key_pem,
        verify_confirmation_bytes,
    )
    from tests.services.conftest import make_pruefbericht

    config = config_for(tmp_path / "home")
    NodeRegistry(config).ensure_approved("KDKK00001", name="KDK", actor="bfarm-op")
    report = make_pruefbericht("KDKK00001", "outbox")
    case = report["SubmittedCase"]
    book = get_case_book(config, case["submitterId"])
    book.add({case["tan"]: "AN-1"})
    hospital = config.home / "hospitals" / case["submitterId"]
    real_access = os.access

    def access(path, mode, **kwargs):  # the node's account may not write the hospitals' folder
        return (
            False
            if str(path).startswith(str(hospital / "meldebestaetigungen"))
            else (real_access(path, mode, **kwargs))
        )

    monkeypatch.setattr(os, "access", access)
    confirmation_id = make_platform_reporter(config, "KDKK00001")(report)

    outbox = Institution(config, "kdk", "KDKK00001").directory / "outbox" / case["submitterId"]
    filed = outbox / "meldebestaetigungen" / f"{confirmation_id}.json"
    body = verify_confirmation_bytes(filed.read_bytes(), get_confirmation_public_key_pem(config))
    assert body["confirmation_id"] == confirmation_id
    assert not list((hospital / "meldebestaetigungen").glob("*.json"))
    assert get_case_book(config, case["submitterId"]).lookup(case["tan"]) == "AN-1"  # the LE's
