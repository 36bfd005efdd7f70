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

Freshness: the airlock asks the platform at every request. The data service may reuse the
platform's *positive* answer for the *same token* for ``services.person_status_ttl_seconds``
(its own configuration, default and at most 2 s, 0 = ask every time; :class:`VerifiedTokens`),
so a person withdrawn or a credential revoked at the platform is refused at most that long
afterwards. Refusals, 404s and failures to ask are never reused.

Refusals: :class:`OAuthError` 401 for a missing, invalid, expired, withdrawn or revoked token;
:class:`~genomlab.clients.oauth.ServiceUnavailable` (answer 503) when the platform cannot be
asked or the service has no platform client of its own: the service never assumes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from starlette.requests import Request

from genomlab import clock
from genomlab.clients.oauth import (
    ClientCredentials,
    InvalidCredentials,
    ServiceUnavailable,
    get_credentials_path,
    get_service_endpoint,
    load_client_credentials,
    raise_for_answer,
)
from genomlab.clients.platform import PlatformStatusClient, watch_platform_token_key
from genomlab.config import MAX_PERSON_STATUS_TTL_SECONDS, GenomlabConfig
from genomlab.errors import GenomlabError
from genomlab.institution import Institution
from genomlab.platform.access_tokens import (
    AIRLOCK_AUDIENCE,
    DATA_SERVICE_AUDIENCE,
    InsufficientScope,
    InvalidToken,
    VerifiedPerson,
)
from genomlab.services.oauth_http import (
    OAuthError,
    bearer_error,
    get_bearer_token,
    get_current_key,
)


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


class VerifiedTokens:
    """Tokens the platform confirmed, each reusable for ``ttl`` seconds of :mod:`genomlab.clock`.

    Keyed by the token's sha256, so only the very token that was verified is accepted again:
    another token of the same person (a new credential, a new token) is asked about anew. An
    entry lives from *before* the platform was asked until ``ttl`` later or the token's expiry,
    whichever is first; a clock that went backwards ends it. At most ``max_entries`` are kept
    (the oldest go first).
    """

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        if not 0 <= ttl <= MAX_PERSON_STATUS_TTL_SECONDS:
            raise ValueError(
                f"person status TTL {ttl} s: must be 0 to {MAX_PERSON_STATUS_TTL_SECONDS} s"
            )
        self.ttl = timedelta(seconds=ttl)
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[datetime, datetime, VerifiedPerson]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def clear(self) -> None:
        """Forget every kept answer (the platform's token key was rotated)."""
        with self._lock:
            self._entries.clear()

    def get(self, token: str) -> VerifiedPerson | None:
        """The person ``token`` was verified for, if that answer may still be reused now."""
        if not self.ttl:
            return None
        key, now = self._key(token), clock.now()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            asked_at, until, person = entry
            if asked_at <= now < until:
                return person
            del self._entries[key]
            return None

    def put(
        self, token: str, person: VerifiedPerson, *, asked_at: datetime, expires_at: datetime
    ) -> None:
        """Keep the platform's positive answer about ``token``, asked at ``asked_at``."""
        if not self.ttl:
            return
        until = min(asked_at + self.ttl, expires_at)
        with self._lock:
            self._entries[self._key(token)] = (asked_at, until, person)
            self._entries.move_to_end(self._key(token))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class PersonCheck:
    """Verifies people's tokens for one service (its audience), asking the platform (see the
    module's description for how long a data service may reuse a positive answer)."""

    def __init__(
        self,
        audience: str,
        platform: PlatformStatusClient | None,
        *,
        public_key: Any,
        missing_client: Path | None = None,
        ttl: float = 0.0,
    ) -> None:
        self.audience = audience
        self.platform = platform
        self.public_key = public_key
        """The platform's token key, or a :class:`~genomlab.trusted_keys.TrustedKeyFile`."""
        self.missing_client = missing_client
        self.verified = VerifiedTokens(ttl)
        self._key_in_use: Any = None

    @classmethod
    def for_service(
        cls, config: GenomlabConfig, kind: str, audience: str, *, ttl: float = 0.0
    ) -> PersonCheck:
        """The check of service ``kind`` with its own platform client (``<kind>/platform-
        client.json``), reusing a positive answer for ``ttl`` seconds. Without that file the
        service starts, and answers 503 naming it."""
        path = get_credentials_path(Institution(config, kind).directory)  # type: ignore[arg-type]
        public_key = watch_platform_token_key(  # the anchored key only, rotations taken up
            config, trusted_by=Institution(config, kind))  # type: ignore[arg-type]
        if not path.exists():
            return cls(audience, None, public_key=public_key, missing_client=path, ttl=ttl)
        platform = KeptPlatformClient(config, load_client_credentials(path))
        return cls(audience, platform, public_key=public_key, ttl=ttl)

    def verify(self, authorization: str | None) -> VerifiedPerson:
        """The verified person behind an ``Authorization`` header; else :class:`OAuthError`
        (401/403) or :class:`ServiceUnavailable` (503)."""
        token = get_bearer_token(authorization)
        key = get_current_key(self.public_key, token)
        if key is not self._key_in_use:  # a rotation: answers about older tokens are void
            self.verified.clear()
            self._key_in_use = key
        reused = self.verified.get(token)
        if reused is not None:
            return reused
        if self.platform is None:
            raise ServiceUnavailable(
                f"{self.missing_client}: this service has no platform client to ask who is "
                "calling (issue one: genomlab platform nodes issue-client … --save)"
            )
        asked_at = clock.now()
        try:
            person: VerifiedPerson = self.platform.verify_person(
                token, audience=self.audience, public_key=key
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
        if self.verified.ttl:
            self.verified.put(token, person, asked_at=asked_at, expires_at=_expiry(token))
        return person


def _expiry(token: str) -> datetime:
    """The ``exp`` of a token whose signature and claims were just verified."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(float(claims["exp"]), UTC)


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
