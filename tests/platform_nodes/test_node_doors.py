"""Token issuance refuses a client whose node the platform does not approve now (issue 18)."""

from __future__ import annotations

import pytest

from genomlab.config import GenomlabConfig
from genomlab.platform.access_tokens import AccessTokenAuthority
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import InvalidClient, authenticate_client, issue_client
from tests.node_doors import get_home_snapshot

NODE = "GRZK00001"


def test_authenticate_client__suspended_node_gets_no_token_nothing_recorded(
        config: GenomlabConfig) -> None:
    registry = NodeRegistry(config)
    registry.ensure_approved(NODE, name="GRZ Köln", actor="bfarm")
    issued = issue_client(config, NODE, actor="bfarm")
    authority = AccessTokenAuthority(config)
    registry.suspend(NODE, actor="bfarm", reason="audit finding")
    before = get_home_snapshot(config)
    with pytest.raises(InvalidClient, match=f"node {NODE} is suspended, not approved"):
        authority.issue(authenticate_client(config, issued.client_id, issued.client_secret))
    assert get_home_snapshot(config) == before
    registry.approve(NODE, actor="bfarm", reason="audit closed")
    grant = authority.issue(authenticate_client(config, issued.client_id, issued.client_secret))
    assert grant["token_type"] == "Bearer"  # the same client works again once approved
