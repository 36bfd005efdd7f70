"""OAuth 2.0 on the wire: the token request (RFC 6749 §4.4, §2.3.1) and bearer tokens (RFC 6750).

Pure parsing and error shapes, no framework: a service hands in the request's headers and body
and gets the client credentials or the bearer token, or an :class:`OAuthError` that says which
status, ``error`` code and ``WWW-Authenticate`` header the answer carries.

Examples
--------
>>> import base64
>>> basic = "Basic " + base64.b64encode(b"grz-1:s%3Acret").decode()
>>> parse_token_request("application/x-www-form-urlencoded", b"grant_type=client_credentials",
...                     basic)
TokenRequest(client_id='grz-1', client_secret='s:cret', scope=None)
>>> get_bearer_token("bearer abc.def.ghi")
'abc.def.ghi'
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from genomlab.clients.oauth import ServiceUnavailable
from genomlab.platform.access_tokens import get_token_key_id
from genomlab.trusted_keys import TrustedKeyFile, TrustedKeyMismatch

FORM_TYPE = "application/x-www-form-urlencoded"
REALM = "genomlab"


@dataclass(frozen=True)
class TokenRequest:
    """A client-credentials token request's client and optional scope."""

    client_id: str
    client_secret: str
    scope: str | None


@dataclass
class OAuthError(Exception):
    """An OAuth error answer: HTTP status, ``error`` code, description, extra headers."""

    status: int
    error: str
    description: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"

    def body(self) -> dict[str, str]:
        """The JSON body (RFC 6749 §5.2, RFC 6750 §3)."""
        return {"error": self.error, "error_description": self.description}


def _form_fields(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise OAuthError(400, "invalid_request", "body is not URL-encoded ASCII") from exc
    repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
    if repeated:
        raise OAuthError(400, "invalid_request", f"parameter {repeated[0]} repeated")
    return {k: v[0] for k, v in parsed.items()}


def _basic_credentials(authorization: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(authorization.split(None, 1)[1], validate=True).decode()
    except (IndexError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid_client("malformed Basic credentials", basic=True) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client("malformed Basic credentials", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)


def _invalid_client(description: str, *, basic: bool) -> OAuthError:
    headers = {"WWW-Authenticate": f'Basic realm="{REALM}"'} if basic else {}
    return OAuthError(401, "invalid_client", description, headers)


def parse_token_request(content_type: str | None, body: bytes,
                        authorization: str | None) -> TokenRequest:
    """The client credentials and scope of a token request; :class:`OAuthError` if malformed.

    The client authenticates by HTTP Basic or by ``client_id``/``client_secret`` form fields,
    never both (RFC 6749 §2.3). The grant type must be ``client_credentials``.
    """
    if (content_type or "").split(";")[0].strip().lower() != FORM_TYPE:
        raise OAuthError(400, "invalid_request", f"content type must be {FORM_TYPE}")
    form = _form_fields(body)
    grant = form.get("grant_type")
    if grant is None:
        raise OAuthError(400, "invalid_request", "parameter grant_type missing")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", f"grant type {grant!r} not supported")
    basic = (authorization or "").split(" ", 1)[0].lower() == "basic"
    if basic and ("client_secret" in form or "client_id" in form):
        raise OAuthError(400, "invalid_request", "client authenticated by Basic and by form")
    if basic:
        client_id, secret = _basic_credentials(authorization or "")
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not secret:
        raise _invalid_client("client credentials missing", basic=basic)
    return TokenRequest(client_id, secret, form.get("scope") or None)


def get_bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header (scheme case-insensitive)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OAuthError(401, "invalid_token" if authorization else "invalid_request",
                         "bearer token missing", {"WWW-Authenticate": f'Bearer realm="{REALM}"'})
    return token.strip()


def bearer_error(status: int, error: str, description: str) -> OAuthError:
    """An RFC 6750 §3 error with its ``WWW-Authenticate: Bearer`` challenge."""
    challenge = f'Bearer realm="{REALM}", error="{error}"'
    return OAuthError(status, error, description, {"WWW-Authenticate": challenge})


def get_current_key(public_key: Any, token: str) -> Any:
    """The key to check ``token`` with: ``public_key`` itself, or, for a
    :class:`~genomlab.trusted_keys.TrustedKeyFile`, its key now (taken up again after a
    rotation; the token's ``kid`` naming another key makes it look). A trusted key file that
    holds no anchored key any more is :class:`ServiceUnavailable` (503) naming the file."""
    if not isinstance(public_key, TrustedKeyFile):
        return public_key
    try:
        return public_key.current(get_token_key_id(token))
    except TrustedKeyMismatch as exc:
        raise ServiceUnavailable(str(exc)) from exc
