"""Reaching a service: its endpoint, an instance's client credentials and its bearer tokens.

A running service records ``{"url", "ca", "pid"}`` in ``<home>/services/<name>.json`` (written
by :mod:`genomlab.services.runner`); a client trusts only the CA named there. An institution
instance keeps the OAuth client the platform issued it in ``<instance>/platform-client.json``
(0600: ``client_id``, ``client_secret``, ``node_id``). :class:`BearerTokens` takes tokens from
the platform's token endpoint (client credentials, RFC 6749 §4.4) for one scope and reuses each
until shortly before it expires.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from genomlab.config import GenomlabConfig
from genomlab.errors import (
    ConflictError,
    GenomlabError,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)

CREDENTIALS_FILE = "platform-client.json"
TOKEN_PATH = "/oauth2/token"
REFRESH_MARGIN_SECONDS = 30.0
"""A token is replaced this long before it expires (the platform's tokens live 5 minutes)."""
TIMEOUT_SECONDS = 30.0


class ServiceUnavailable(GenomlabError):
    """The service is not running (no record) or did not answer."""


class InvalidCredentials(PermissionDenied):
    """The service refused the caller's client or token (HTTP 401)."""


@dataclass(frozen=True)
class ServiceEndpoint:
    """Where a service answers and the CA file its certificate chains to."""

    name: str
    url: str
    ca: Path | None
    ca_pem: str | None = None
    """The CA certificate itself (PEM), for a client that cannot read ``ca`` (a person's
    credentials file carries it in a separated deployment)."""

    def http(self) -> httpx.Client:
        """An HTTPS client that trusts only this service's CA."""
        context = (ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem
                   else ssl.create_default_context(cafile=str(self.ca)))
        return httpx.Client(base_url=self.url, timeout=TIMEOUT_SECONDS, verify=context)


@dataclass(frozen=True)
class ClientCredentials:
    """An instance's OAuth client as the platform issued it."""

    client_id: str
    client_secret: str
    node_id: str


class OAuthClientSecret(Protocol):
    """What a token request needs: a node's :class:`ClientCredentials` or a person's
    :class:`genomlab.platform.person_credentials.PersonCredentials`."""

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str: ...


def get_service_endpoint(config: GenomlabConfig, service_name: str) -> ServiceEndpoint:
    """The endpoint of running service ``service_name`` (``platform``, ``trust_center``)."""
    path = config.home / "services" / (service_name.replace(":", "-") + ".json")
    try:
        record = json.loads(path.read_text())
        return ServiceEndpoint(service_name, str(record["url"]), Path(record["ca"]))
    except FileNotFoundError as exc:
        raise ServiceUnavailable(f"{service_name}: not running (no {path}); start it with "
                                 f"genomlab serve {service_name}") from exc
    except (ValueError, KeyError) as exc:
        raise ServiceUnavailable(f"{path}: not a service record ({exc})") from exc


def get_credentials_path(institution_dir: Path) -> Path:
    """Where an institution instance keeps its platform-issued OAuth client."""
    return institution_dir / CREDENTIALS_FILE


def save_client_credentials(path: Path, credentials: ClientCredentials) -> None:
    """Write ``credentials`` to ``path`` (0600, atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"client_id": credentials.client_id,
                   "client_secret": credentials.client_secret,
                   "node_id": credentials.node_id}, out)
    tmp.replace(path)


def load_client_credentials(path: Path) -> ClientCredentials:
    """The credentials in ``path``; a one-line error naming the file and field otherwise."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path}: no OAuth client credentials (issue them with "
                            "genomlab platform nodes issue-client)") from exc
    except ValueError as exc:
        raise ValidationFailed(f"{path}: not JSON ({exc})") from exc
    for field in ("client_id", "client_secret", "node_id"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ValidationFailed(f"{path}: field {field}: missing or not text")
    return ClientCredentials(data["client_id"], data["client_secret"], data["node_id"])


def raise_for_answer(service: str, answer: httpx.Response) -> Any:
    """The answer's JSON if it succeeded; else the error it means (one line, the service's)."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.is_success:
        return body
    detail = (f"{service}: HTTP {answer.status_code} {body.get('error', '')}: "
              f"{body.get('error_description', answer.text[:200])}")
    error = {400: ValidationFailed, 401: InvalidCredentials, 403: PermissionDenied,
             404: NotFoundError, 409: ConflictError}.get(answer.status_code, ServiceUnavailable)
    raise error(detail)


class BearerTokens:
    """Access tokens from the platform for one client and one scope, reused until near expiry.

    The platform's endpoint is looked up at each new token, so a restarted platform (new
    port) is found again.
    """

    def __init__(self, config: GenomlabConfig, credentials: OAuthClientSecret, scope: str,
                 endpoint: Callable[[], ServiceEndpoint] | None = None) -> None:
        self.config = config
        self.credentials = credentials
        self.scope = scope
        self.endpoint = endpoint or (lambda: get_service_endpoint(config, "platform"))
        """Where the platform answers (default: its service record, looked up each time)."""
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self) -> str:
        """A token that is valid for at least :data:`REFRESH_MARGIN_SECONDS` more."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token, lifetime = self._request()
                self._renew_at = time.monotonic() + max(lifetime - REFRESH_MARGIN_SECONDS, 0.0)
            return self._token

    def forget(self) -> None:
        """Drop the cached token (after a 401: the next call asks for a new one)."""
        with self._lock:
            self._token = None

    def _request(self) -> tuple[str, float]:
        platform = self.endpoint()
        try:
            with platform.http() as http:
                answer = http.post(TOKEN_PATH, data={
                    "grant_type": "client_credentials", "scope": self.scope,
                    "client_id": self.credentials.client_id,
                    "client_secret": self.credentials.client_secret})
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"platform: {exc}") from exc
        grant = raise_for_answer("platform token endpoint", answer)
        return str(grant["access_token"]), float(grant["expires_in"])

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header of a request."""
        return {"Authorization": f"Bearer {self.get()}"}
