"""``genomlab platform nodes issue-client / revoke-client / clients`` and ``genomlab serve``'s
refusals, through the CLI in-process."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.clients.oauth import load_client_credentials
from genomlab.errors import PermissionDenied
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import authenticate_client


def _run(config, *args: str):
    return CliRunner().invoke(main, list(args), env={"GENOMLAB_HOME": str(config.home)})


def _client_of(output: str) -> tuple[str, str]:
    """``(client_id, client_secret)`` as ``issue-client`` prints them."""
    found = re.search(r"client_id: (\S+)\nclient_secret: (\S+)\n", output)
    assert found is not None, output
    return found.group(1), found.group(2)


def test_issue_client__only_approved_node_once_secret_shown_once(config):
    refused = _run(config, "platform", "nodes", "issue-client", "GRZC01001")
    assert refused.exit_code == 1
    assert refused.output.strip() == ("Error: node GRZC01001 is not registered with the "
                                      "platform")
    NodeRegistry(config).ensure_approved("GRZC01001", name="GRZ", actor="op")
    issued = _run(config, "platform", "nodes", "issue-client", "GRZC01001")
    assert issued.exit_code == 0, issued.output
    client_id, secret = _client_of(issued.output)
    assert authenticate_client(config, client_id, secret).node_id == "GRZC01001"
    again = _run(config, "platform", "nodes", "issue-client", "GRZC01001")
    assert again.exit_code == 1
    assert f"already has client {client_id}" in again.output
    listed = _run(config, "platform", "nodes", "clients")
    assert secret not in listed.output
    assert re.search(rf"{client_id}\s+GRZC01001\s+active", listed.output)


def test_revoke_client__then_no_authentication(config):
    NodeRegistry(config).ensure_approved("GRZC01002", name="GRZ", actor="op")
    issued = _run(config, "platform", "nodes", "issue-client", "GRZC01002")
    client_id, secret = _client_of(issued.output)
    revoked = _run(config, "platform", "nodes", "revoke-client", client_id, "--reason", "leak")
    assert (revoked.exit_code, revoked.output.strip()) == (0, f"{client_id}: revoked")
    with pytest.raises(PermissionDenied, match="not an active client"):
        authenticate_client(config, client_id, secret)


@pytest.mark.parametrize(("node_id", "folder"), [("VSTC01", "trust_center"),
                                                 ("GRZC01003", "grz/GRZC01003")])
def test_issue_client__save_writes_the_instances_credentials_0600(config, node_id, folder):
    NodeRegistry(config).ensure_approved(node_id, name="node", actor="op")
    saved = _run(config, "platform", "nodes", "issue-client", node_id, "--save")
    assert saved.exit_code == 0, saved.output
    path = config.home / folder / "platform-client.json"
    assert f"saved to {path}" in saved.output
    credentials = load_client_credentials(path)
    assert credentials.client_secret not in saved.output
    assert path.stat().st_mode & 0o777 == 0o600
    identity = authenticate_client(config, credentials.client_id, credentials.client_secret)
    assert (identity.node_id, credentials.node_id) == (node_id, node_id)


def test_serve__unknown_kind_refused_in_one_line(config):
    result = _run(config, "serve", "reports")
    assert result.exit_code == 2
    assert ("'reports' is not one of 'platform', 'trust-center', 'data-service', 'airlock', "
            "'grz', 'kdk', 'all'" in result.output)
