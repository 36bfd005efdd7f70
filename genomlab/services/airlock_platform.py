"""The airlock service's directory: people and projects as the platform service answers them.

:class:`ServiceDirectory` is the airlock's :class:`~genomlab.airlock.directory.AirlockDirectory`
when it runs as a service: it asks the running platform with the airlock's *own* client
(``airlock/platform-client.json``, a node of kind ``airlock``, scopes ``status:read
projects:read register:write``) whether a verified person is on a project's team
(``GET /api/projects/{id}/members/{user}``), what roles a person holds
(``GET /api/people/{user}/status``), and records each release in the register
(``POST /api/projects/{id}/results``); see :mod:`genomlab.services.platform_projects_api`.
Nothing of the platform's store is read in-process. Without its client, or when the platform
cannot be asked, every question raises :class:`ServiceUnavailable` (answer 503): the airlock
never assumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    InvalidCredentials,
    ServiceUnavailable,
    get_credentials_path,
    load_client_credentials,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.institution import Institution
from genomlab.platform.applications.models import Role
from genomlab.services.person_check import KeptPlatformClient

AIRLOCK_SCOPE = "status:read projects:read register:write"
"""What the airlock's client asks the platform for (``SCOPES_BY_KIND["airlock"]``)."""


class PlatformProjectsClient(KeptPlatformClient):
    """The airlock's calls to the platform (one kept-alive connection pool)."""

    def __init__(self, config: GenomlabConfig, credentials: ClientCredentials) -> None:
        super().__init__(config, credentials)
        self.tokens = BearerTokens(config, credentials, AIRLOCK_SCOPE)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        http = self._client()
        try:
            answer = http.post(path, json=body, headers=self.tokens.headers())
            if answer.status_code == 401:  # e.g. the platform restarted: one fresh token
                self.tokens.forget()
                answer = http.post(path, json=body, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            with self._lock:
                self._http = None
            raise ServiceUnavailable(f"platform: {exc}") from exc
        result: dict[str, Any] = raise_for_answer("platform", answer)
        return result

    def is_member(self, project_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is on the project's team with an active entitlement now."""
        answer = self._get(
            f"/api/projects/{quote(project_id, safe='')}/members/{quote(user_id, safe='')}"
        )
        return answer.get("member") is True

    def record_result(self, project_id: str, author: str, title: str, reference: str) -> str:
        """Record a release of ``author`` in the project's register entry; its application."""
        answer = self._post(
            f"/api/projects/{quote(project_id, safe='')}/results",
            {"author": author, "title": title, "reference": reference},
        )
        return str(answer["application_id"])


class ServiceDirectory:
    """:class:`~genomlab.airlock.directory.AirlockDirectory` over the platform service."""

    def __init__(
        self, client: PlatformProjectsClient | None, missing_client: Path | None = None
    ) -> None:
        self.client = client
        self.missing_client = missing_client

    @classmethod
    def for_airlock(cls, config: GenomlabConfig) -> ServiceDirectory:
        """The directory with the airlock's own client (``airlock/platform-client.json``)."""
        path = get_credentials_path(Institution(config, "airlock").directory)
        if not path.exists():
            return cls(None, path)
        return cls(PlatformProjectsClient(config, load_client_credentials(path)))

    def _platform(self) -> PlatformProjectsClient:
        if self.client is None:
            raise ServiceUnavailable(
                f"{self.missing_client}: the airlock has no platform client to ask about "
                "projects (issue one: genomlab platform nodes issue-client AIRLOCK --save)"
            )
        return self.client

    def _ask(self, question: Any) -> Any:
        try:
            return question()
        except InvalidCredentials as exc:  # the airlock's own client: not the person's fault
            raise ServiceUnavailable(f"cannot ask the platform: {exc}") from exc

    def is_team_member(self, user: str, project: str) -> bool:
        platform = self._platform()
        try:
            return bool(self._ask(lambda: platform.is_member(project, user)))
        except NotFoundError:
            return False

    def is_output_checker(self, user: str) -> bool:
        platform = self._platform()
        try:
            status = self._ask(lambda: platform.get_person_status(user))
        except NotFoundError:
            return False
        return bool(status.get("active")) and Role.OUTPUT_CHECKER.value in status.get("roles", ())

    def record_release(self, project: str, author: str, title: str, reference: str) -> str | None:
        platform = self._platform()
        try:
            return str(self._ask(lambda: platform.record_result(project, author, title, reference)))
        except NotFoundError:
            return None
