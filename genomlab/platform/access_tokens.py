"""Access tokens of the platform's authorization server: signed JWTs in the RFC 9068 profile.

The platform is BfArM's authorization server for machine-to-machine calls. For a client that
authenticated (:mod:`genomlab.platform.oauth_clients`) it issues a JWT (PyJWT, EdDSA with the
platform key ``oauth``; header ``typ: at+jwt``) with ``iss``, ``sub`` = ``client_id``, ``aud``,
``scope``, ``iat``, ``exp`` (5 minutes), ``jti`` and the node it speaks for. Times come from
:func:`genomlab.clock.now`, so a test injects its clock.

:meth:`AccessTokenAuthority.verify` checks the signature, type, issuer, audience and expiry, and
then, at every request, the platform's records: the client must still be active, its node still
approved, and approved *by the same decision* as when the token was issued (claim
``node_approved_at``). So a suspended or revoked node's tokens stop working at once, and a token
issued before a suspension stays dead after the node is approved again.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.nodes import NodeRegistry
>>> from genomlab.platform.oauth_clients import authenticate_client, issue_client
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> NodeRegistry(config).ensure_approved("GRZK00001", name="GRZ", actor="op")
>>> issued = issue_client(config, "GRZK00001", actor="op")
>>> authority = AccessTokenAuthority(config)
>>> grant = authority.issue(authenticate_client(config, issued.client_id, issued.client_secret))
>>> grant["token_type"], grant["expires_in"]
('Bearer', 300)
>>> authority.verify(grant["access_token"], scope="pruefbericht:upload").node_id
'GRZK00001'
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, PermissionDenied
from genomlab.institution import Institution
from genomlab.platform.oauth_clients import ClientIdentity, InvalidClient, require_usable_client
from genomlab.platform.person_credentials import (
    CLIENT_KIND as PERSON_CLIENT_KIND,
)
from genomlab.platform.person_credentials import (
    PERSON_SCOPE,
    PersonIdentity,
    get_person_status,
)
from genomlab.platform.store import read_platform
from genomlab.trusted_keys import OwnSigningKey

TOKEN_KEY = "oauth"
"""Platform key that signs access tokens (public: ``platform/keys/oauth.pub.pem``)."""
ISSUER = "urn:genomlab:platform"
PLATFORM_AUDIENCE = "urn:genomlab:platform"
"""``aud`` of tokens for the platform's own APIs (the Prüfbericht upload, status look-ups)."""
TRUST_CENTER_AUDIENCE = "urn:genomlab:trust_center"
"""``aud`` of tokens for the trust centre's APIs (pseudonyms, linkage maps)."""
AIRLOCK_AUDIENCE = "urn:genomlab:airlock"
DATA_SERVICE_AUDIENCE = "urn:genomlab:data_service"
NODE_AUDIENCE = "urn:genomlab:node"
"""``aud`` of tokens for a GRZ's or KDK's read API (dataset attributes, fields for a release);
one audience for every node service: each checks the caller with the platform itself."""
PERSON_AUDIENCES = (PLATFORM_AUDIENCE, AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE)
"""``aud`` of a person's token: every service that serves people (never the trust centre)."""
SCOPE_AUDIENCES = {
    "pruefbericht:upload": PLATFORM_AUDIENCE, "approvals:read": PLATFORM_AUDIENCE,
    "status:read": PLATFORM_AUDIENCE, "pseudonyms:request": TRUST_CENTER_AUDIENCE,
    "linkage:request": TRUST_CENTER_AUDIENCE, "datasets:attributes": NODE_AUDIENCE,
    "datasets:read": NODE_AUDIENCE,
}
"""Which service a scope is for: a token carries scopes of one audience only."""
TOKEN_LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=30)
TOKEN_TYPES = ("at+jwt", "application/at+jwt")
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "node_id",
                   "node_approved_at"]
PERSON_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope",
                          "client_kind"]


class InvalidToken(PermissionDenied):
    """The bearer token is missing, malformed, forged, expired or no longer backed (HTTP 401)."""


class InsufficientScope(PermissionDenied):
    """The token is valid but lacks the scope the request needs (HTTP 403)."""


class AccessTokenAuthority:
    """Issues and verifies the platform's access tokens (keys loaded once per instance)."""

    def __init__(self, config: GenomlabConfig, *, audience: str = PLATFORM_AUDIENCE) -> None:
        self.config = config
        self.audience = audience
        # a running platform takes up a recorded rotation of its token key without a restart
        self._key = OwnSigningKey(Institution(config, "platform"), TOKEN_KEY)

    def _sign(self, claims: dict[str, Any]) -> str:
        """``claims`` as a token signed with the current token key (``kid`` names it)."""
        private = self._key.current()
        return jwt.encode(claims, private, algorithm="EdDSA",
                          headers={"typ": "at+jwt", "kid": self._key.key_id})

    def issue(self, client: ClientIdentity, scope: str | None = None) -> dict[str, Any]:
        """The token response (RFC 6749 §5.1) for an authenticated ``client``.

        ``scope`` (space-separated) narrows the client's scope; asking for more raises
        :class:`InsufficientScope` (``invalid_scope``). Without ``scope`` the token carries the
        client's platform scopes (what ``grzctl`` expects). The token's ``aud`` is the service
        its scopes are for (:data:`SCOPE_AUDIENCES`); scopes of two services in one request are
        refused, so a token is good at one service only.
        """
        allowed = client.scope.split()
        if scope is None:
            granted = " ".join(sorted(s for s in allowed
                                      if SCOPE_AUDIENCES.get(s) == PLATFORM_AUDIENCE))
        else:
            granted = " ".join(sorted(set(scope.split())))
        if not granted or not set(granted.split()) <= set(allowed):
            raise InsufficientScope(f"client {client.client_id}: scope {scope!r} not allowed")
        audiences = {SCOPE_AUDIENCES.get(s, PLATFORM_AUDIENCE) for s in granted.split()}
        if len(audiences) != 1:
            raise InsufficientScope(f"client {client.client_id}: scope {scope!r} names scopes "
                                    "of more than one service; ask for one service's at a time")
        issued_at = int(clock.now().timestamp())
        lifetime = int(TOKEN_LIFETIME.total_seconds())
        claims = {"iss": ISSUER, "sub": client.client_id, "client_id": client.client_id,
                  "aud": audiences.pop(), "scope": granted, "iat": issued_at,
                  "exp": issued_at + lifetime, "jti": secrets.token_hex(16),
                  "node_id": client.node_id, "node_approved_at": client.node_approved_at}
        token = self._sign(claims)
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
                "scope": granted}

    def issue_person(self, person: PersonIdentity, scope: str | None = None) -> dict[str, Any]:
        """The token response for an authenticated person client: ``sub`` = the user id.

        Claims ``client_kind: person``, ``scope: person`` and ``aud`` every service that serves
        people (:data:`PERSON_AUDIENCES`). Asking for any other scope is
        :class:`InsufficientScope` (``invalid_scope``).
        """
        if scope is not None and set(scope.split()) != {PERSON_SCOPE}:
            raise InsufficientScope(f"client {person.client_id}: scope {scope!r} not allowed; "
                                    f"a person's credential has scope {PERSON_SCOPE}")
        issued_at = int(clock.now().timestamp())
        lifetime = int(TOKEN_LIFETIME.total_seconds())
        claims = {"iss": ISSUER, "sub": person.user_id, "client_id": person.client_id,
                  "client_kind": PERSON_CLIENT_KIND, "aud": list(PERSON_AUDIENCES),
                  "scope": PERSON_SCOPE, "iat": issued_at, "exp": issued_at + lifetime,
                  "jti": secrets.token_hex(16)}
        token = self._sign(claims)
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
                "scope": PERSON_SCOPE}

    def verify_person(self, token: str) -> VerifiedPerson:
        """The person behind ``token``, checked against the platform's own records now."""
        self._key.current()
        return verify_person_token(token, self._key.public_key, audience=self.audience,
                                   look_up=lambda user: get_person_status(self.config, user))

    def verify(self, token: str, *, scope: str) -> ClientIdentity:
        """The identity behind ``token`` if it is valid now and carries ``scope``.

        :meth:`decode`, then :meth:`check_records` in a read transaction of its own. Raises
        :class:`InvalidToken` (401) or :class:`InsufficientScope` (403).
        """
        claims = self.decode(token)
        with read_platform(self.config) as conn:
            return self.check_records(conn, claims, scope=scope)

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a machine client's ``token`` for this authority's audience if its
        signature (the current token key), type, issuer, audience and times are valid now;
        else :class:`InvalidToken`. The platform's records are :meth:`check_records`'s part."""
        self._key.current()
        return decode_access_token(token, self._key.public_key, audience=self.audience)

    def check_records(self, conn: Connection, claims: Mapping[str, Any], *,
                      scope: str) -> ClientIdentity:
        """The identity behind decoded ``claims`` if the platform's records on ``conn`` back it
        now: the client active, its node approved by the same decision as at issue
        (``node_approved_at``) and the node the one the token names; then ``scope`` granted.

        A caller that writes passes its own write transaction's connection, so nothing can
        change between this check and the write (the Prüfbericht upload does). Raises
        :class:`InvalidToken` (401) or :class:`InsufficientScope` (403).
        """
        try:
            identity = require_usable_client(conn, claims["client_id"])
        except InvalidClient as exc:
            raise InvalidToken(f"access token: {exc}") from exc
        if identity.node_approved_at != claims["node_approved_at"]:
            raise InvalidToken(f"access token: issued before node {identity.node_id}'s current "
                               "approval")
        if identity.node_id != claims["node_id"]:
            raise InvalidToken(f"access token: names node {claims['node_id']}, but client "
                               f"{identity.client_id} is node {identity.node_id}'s")
        check_scope(claims, scope)
        return identity


def decode_access_token(token: str, public_key: Ed25519PublicKey, *, audience: str,
                        required: list[str] | None = None) -> dict[str, Any]:
    """The claims of a platform access token for ``audience`` that is valid now; else raise.

    Checks the signature (the platform's public ``oauth`` key), ``typ``, issuer, audience, the
    required claims and, against :func:`genomlab.clock.now`, expiry and issue time. What the
    platform's records say of the client and its node is the caller's second check (the
    platform reads its store; another service asks the platform's status endpoint).
    """
    try:
        # one parse of the token for header and claims (PyJWT checks every character of each
        # segment; parsing twice, header first, cost 0.1 to 0.2 ms per request); expiry is
        # checked below against genomlab.clock, not PyJWT's wall clock
        decoded = jwt.decode_complete(
            token, public_key, algorithms=["EdDSA"], audience=audience, issuer=ISSUER,
            options={"require": required or REQUIRED_CLAIMS, "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"access token: {exc}") from exc
    if str(decoded["header"].get("typ", "")).lower() not in TOKEN_TYPES:
        raise InvalidToken("access token: header typ is not at+jwt")
    claims: dict[str, Any] = decoded["payload"]
    now = clock.now().timestamp()
    if claims["exp"] <= now:
        raise InvalidToken("access token: expired")
    if claims["iat"] > now + CLOCK_SKEW.total_seconds():
        raise InvalidToken("access token: issued in the future")
    return claims


def get_token_key_id(token: str) -> str | None:
    """The ``kid`` a token's header names (the platform's token key that signed it, see
    :func:`genomlab.keys.key_id`), ``None`` for a token without one or not a JWT at all."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


def check_scope(claims: Mapping[str, Any], scope: str) -> None:
    """Raise :class:`InsufficientScope` (403) unless the token's claims grant ``scope``."""
    if scope not in str(claims["scope"]).split():
        raise InsufficientScope(f"access token: scope {scope} not granted")


@dataclass(frozen=True)
class VerifiedPerson:
    """The verified subject of a person's token and their standing at the platform now."""

    user_id: str
    client_id: str
    roles: tuple[str, ...]
    institution: str


PersonStatusLookUp = Callable[[str], Mapping[str, Any]]
"""user id → the platform's answer of ``GET /api/people/{user}/status``
(:func:`genomlab.platform.person_credentials.get_person_status` in-process,
:meth:`genomlab.clients.platform.PlatformStatusClient.get_person_status` from another service);
raises :class:`~genomlab.errors.NotFoundError` for an unknown user."""


def verify_person_token(token: str, public_key: Ed25519PublicKey, *, audience: str,
                        look_up: PersonStatusLookUp) -> VerifiedPerson:
    """The person a bearer token speaks for, if it is valid now; else :class:`InvalidToken`.

    The one check every service that serves people makes, at every request:

    1. the token: signature with the platform's public ``oauth`` key (a service uses the copy
       the platform publishes, ``<home>/services/platform.token-key.pub.pem``), ``typ``,
       issuer, ``audience`` (the service's own: :data:`PLATFORM_AUDIENCE`,
       :data:`AIRLOCK_AUDIENCE` or :data:`DATA_SERVICE_AUDIENCE`), expiry against
       :func:`genomlab.clock.now`, ``client_kind: person`` and scope ``person``;
    2. the platform's records now (``look_up(sub)``): the user is registered and not
       withdrawn, and the token's credential (``client_id``) is still active.

    The result's ``user_id`` (the token's ``sub``) is who acts, and its ``roles`` are the
    platform's; names in request bodies, headers or the environment count for nothing.
    """
    claims = decode_access_token(token, public_key, audience=audience,
                                 required=PERSON_REQUIRED_CLAIMS)
    if claims["client_kind"] != PERSON_CLIENT_KIND:
        raise InvalidToken("access token: not a person's token")
    check_scope(claims, PERSON_SCOPE)
    user_id = str(claims["sub"])
    try:
        status = look_up(user_id)
    except NotFoundError as exc:
        raise InvalidToken(f"access token: {exc}") from exc
    if not status.get("active"):
        raise InvalidToken(f"access token: {user_id} was withdrawn from the platform")
    if claims["client_id"] not in status.get("active_credentials", ()):
        raise InvalidToken(f"access token: credential {claims['client_id']} of {user_id} is "
                           "no longer active")
    return VerifiedPerson(user_id, str(claims["client_id"]), tuple(status.get("roles", ())),
                          str(status.get("institution", "")))
