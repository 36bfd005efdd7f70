"""Who is asking, for the services people call (data service, airlock): a verified person.

A person's request carries ``Authorization: Bearer <token>``, a platform access token (RFC 9068
JWT, EdDSA with the platform key ``oauth``) whose ``sub`` is the person's platform user id and
whose ``aud`` names the service (:data:`DATA_SERVICE_AUDIENCE`, :data:`AIRLOCK_AUDIENCE`).
:class:`PersonCheck` is the one place a service turns a request into a user id: names in
headers, bodies, query strings or the service's environment are never read. What the person
may do (roles, projects) is then asked of the platform's records by the service itself.

Until the platform's person credentials (issue 15, people) are merged, the token is checked
here with PyJWT against the platform's published token key; plugging in the platform's own
verification is a change of :meth:`PersonCheck.verify` only.
"""

from __future__ import annotations

from typing import Any

import jwt
from starlette.requests import Request

from genomlab import clock
from genomlab.platform.access_tokens import CLOCK_SKEW, ISSUER, TOKEN_TYPES, InvalidToken
from genomlab.services.oauth_http import OAuthError, bearer_error, get_bearer_token

DATA_SERVICE_AUDIENCE = "urn:genomlab:data_service"
AIRLOCK_AUDIENCE = "urn:genomlab:airlock"
PERSON_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"]


class PersonCheck:
    """Verifies people's tokens for one service (its audience) with the platform's key."""

    def __init__(self, public_key: Any, audience: str) -> None:
        self.public_key = public_key
        self.audience = audience

    def verify(self, authorization: str | None) -> str:
        """The verified user id behind an ``Authorization`` header; else :class:`OAuthError`
        (401 ``invalid_token``/``invalid_request``)."""
        token = get_bearer_token(authorization)
        try:
            claims = decode_person_token(token, self.public_key, audience=self.audience)
        except InvalidToken as exc:
            raise bearer_error(401, "invalid_token", str(exc)) from exc
        return str(claims["sub"])


def decode_person_token(token: str, public_key: Any, *, audience: str) -> dict[str, Any]:
    """The claims of a platform token for ``audience`` that is valid now; else
    :class:`InvalidToken`. Expiry is checked against :func:`genomlab.clock.now`."""
    try:
        if str(jwt.get_unverified_header(token).get("typ", "")).lower() not in TOKEN_TYPES:
            raise InvalidToken("access token: header typ is not at+jwt")
        claims: dict[str, Any] = jwt.decode(
            token, public_key, algorithms=["EdDSA"], audience=audience, issuer=ISSUER,
            options={"require": PERSON_CLAIMS, "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"access token: {exc}") from exc
    now = clock.now().timestamp()
    if claims["exp"] <= now:
        raise InvalidToken("access token: expired")
    if claims["iat"] > now + CLOCK_SKEW.total_seconds():
        raise InvalidToken("access token: issued in the future")
    if not isinstance(claims["sub"], str) or not claims["sub"] or "node_id" in claims:
        raise InvalidToken("access token: not a person's token")
    return claims


def get_verified_person(request: Request, check: PersonCheck) -> str:
    """The verified person behind ``request`` (its bearer token only); :class:`OAuthError`."""
    return check.verify(request.headers.get("authorization"))


__all__ = ["AIRLOCK_AUDIENCE", "DATA_SERVICE_AUDIENCE", "OAuthError", "PersonCheck",
           "decode_person_token", "get_verified_person"]
