"""The platform's status look-ups as another service calls them (scope ``status:read``).

:class:`PlatformStatusClient` is what the trust-centre service asks at every request it serves:
is the calling node approved *now*, by the decision its token names, and is its client active;
is the approval it is shown the platform's current one, still in force.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    ServiceUnavailable,
    get_service_endpoint,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig

STATUS_SCOPE = "status:read"


class PlatformStatusClient:
    """Node and approval status from the running platform service."""

    def __init__(self, config: GenomlabConfig, credentials: ClientCredentials) -> None:
        self.config = config
        self.tokens = BearerTokens(config, credentials, STATUS_SCOPE)

    def _get(self, path: str) -> dict[str, Any]:
        platform = get_service_endpoint(self.config, "platform")
        try:
            with platform.http() as http:
                answer = http.get(path, headers=self.tokens.headers())
                if answer.status_code == 401:  # e.g. the platform restarted: one fresh token
                    self.tokens.forget()
                    answer = http.get(path, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"platform: {exc}") from exc
        body: dict[str, Any] = raise_for_answer("platform", answer)
        return body

    def get_node_status(self, node_id: str) -> dict[str, Any]:
        """``{node_id, kind, status, approved_at, active_clients}``; NotFoundError if unknown."""
        return self._get(f"/api/nodes/{quote(node_id, safe='')}/status")

    def get_approval_status(self, application_id: str) -> dict[str, Any]:
        """``{application_id, project_id, status, approval_digest}``; NotFoundError if none."""
        return self._get(f"/api/approvals/{quote(application_id, safe='')}/status")
