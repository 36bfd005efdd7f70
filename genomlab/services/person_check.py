"""Who is asking, for the services people call (data service, airlock): a verified person.

A person's request carries ``Authorization: Bearer <token>``, a platform person token (RFC 9068
JWT, ``sub`` = the platform user id, ``aud`` including the service's audience,
:data:`DATA_SERVICE_AUDIENCE` or :data:`AIRLOCK_AUDIENCE`). :class:`PersonCheck` is the one
place a service turns a request into a person: the platform's one verification function
(:func:`genomlab.platform.access_tokens.verify_person_token` through
:meth:`genomlab.clients.platform.PlatformStatusClient.verify_person`) checks the token with the
platform's published key and then asks the platform service, with the service's *own* client
(``<instance>/platform-client.json``, scope ``status:read``), for the person's standing and
roles now. Names in headers, bodies, query strings or the service's environment are never read.

Refusals: :class:`OAuthError` 401 for a missing, invalid, expired, withdrawn or revoked token;
:class:`~genomlab.clients.oauth.ServiceUnavailable` (answer 503) when the platform cannot be
asked or the service has no platform client of its own: the service never assumes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request

from genomlab.clients.oauth import (
    ClientCredentials,
    InvalidCredentials,
    ServiceUnavailable,
    get_credentials_path,
    get_service_endpoint,
    load_client_credentials,
    raise_for_answer,
)
from genomlab.clients.platform import PlatformStatusClient, load_platform_token_key
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError
from genomlab.institution import Institution
from genomlab.platform.access_tokens import (
    AIRLOCK_AUDIENCE,
    DATA_SERVICE_AUDIENCE,
    InsufficientScope,
    InvalidToken,
    VerifiedPerson,
)
from genomlab.services.oauth_http import OAuthError, bearer_error, get_bearer_token


class KeptPlatformClient(PlatformStatusClient):
    """:class:`PlatformStatusClient` over one kept-alive HTTPS connection pool.

    A service asks the platform at every request it serves; a TLS handshake per question
    would be most of the service's overhead. The pool is replaced when the platform's record
    names another URL (a restarted platform); every question is still asked.
    """

    def __init__(self, config: GenomlabConfig, credentials: ClientCredentials) -> None:
        super().__init__(config, credentials)
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._url = ""

    def _client(self) -> httpx.Client:
        platform = get_service_endpoint(self.config, "platform")
        with self._lock:
            if self._http is None or self._url != platform.url:
                if self._http is not None:
                    self._http.close()
                self._http, self._url = platform.http(), platform.url
            return self._http

    def _get(self, path: str) -> dict[str, Any]:
        http = self._client()
        try:
            answer = http.get(path, headers=self.tokens.headers())
            if answer.status_code == 401:  # e.g. the platform restarted: one fresh token
                self.tokens.forget()
                answer = http.get(path, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            with self._lock:
                self._http = None  # a new pool at the next question
            raise ServiceUnavailable(f"platform: {exc}") from exc
        body: dict[str, Any] = raise_for_answer("platform", answer)
        return body


class PersonCheck:
    """Verifies people's tokens for one service (its audience), asking the platform each time."""

    def __init__(
        self,
        audience: str,
        platform: PlatformStatusClient | None,
        *,
        public_key: Any,
        missing_client: Path | None = None,
    ) -> None:
        self.audience = audience
        self.platform = platform
        self.public_key = public_key
        self.missing_client = missing_client

    @classmethod
    def for_service(cls, config: GenomlabConfig, kind: str, audience: str) -> PersonCheck:
        """The check of service ``kind`` with its own platform client (``<kind>/platform-
        client.json``). Without that file the service starts, and answers 503 naming it."""
        path = get_credentials_path(Institution(config, kind).directory)  # type: ignore[arg-type]
        if not path.exists():
            return cls(
                audience, None, public_key=load_platform_token_key(config), missing_client=path
            )
        platform = KeptPlatformClient(config, load_client_credentials(path))
        return cls(audience, platform, public_key=load_platform_token_key(config))

    def verify(self, authorization: str | None) -> VerifiedPerson:
        """The verified person behind an ``Authorization`` header; else :class:`OAuthError`
        (401/403) or :class:`ServiceUnavailable` (503)."""
        token = get_bearer_token(authorization)
        if self.platform is None:
            raise ServiceUnavailable(
                f"{self.missing_client}: this service has no platform client to ask who is "
                "calling (issue one: genomlab platform nodes issue-client … --save)"
            )
        try:
            return self.platform.verify_person(
                token, audience=self.audience, public_key=self.public_key
            )
        except InvalidToken as exc:
            raise bearer_error(401, "invalid_token", str(exc)) from exc
        except InsufficientScope as exc:
            raise bearer_error(403, "insufficient_scope", str(exc)) from exc
        except InvalidCredentials as exc:
            raise ServiceUnavailable(f"cannot ask the platform who is calling: {exc}") from exc
        except ServiceUnavailable:
            raise
        except GenomlabError as exc:  # any other answer of the platform: never assume
            raise ServiceUnavailable(f"cannot ask the platform who is calling: {exc}") from exc


def get_verified_person(request: Request, check: PersonCheck) -> str:
    """The verified user id behind ``request`` (its bearer token only); :class:`OAuthError`
    or :class:`ServiceUnavailable`."""
    return check.verify(request.headers.get("authorization")).user_id


__all__ = [
    "AIRLOCK_AUDIENCE",
    "DATA_SERVICE_AUDIENCE",
    "OAuthError",
    "PersonCheck",
    "ServiceUnavailable",
    "get_verified_person",
]
