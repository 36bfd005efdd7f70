"""People's tokens for the services people call (data service, airlock), and "nothing changed".

:func:`mint_person_token` signs a platform access token for a person (``sub`` = the user id,
``aud`` = the service) with the platform's ``oauth`` key of the test's home, as the platform's
person credentials do.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt
from sqlalchemy import func, inspect, select, table

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.access_tokens import ISSUER, TOKEN_KEY

BACKDATE = timedelta(seconds=60)
"""Tokens are issued a minute back: under faketime a service started after the test process
runs behind it, and must not see a token "issued in the future"."""


def mint_person_token(config: GenomlabConfig, user: str, audience: str, *,
                      lifetime_seconds: int = 300) -> str:
    """A platform token for person ``user`` at ``audience`` (expired if the lifetime is < 0)."""
    issued = int((clock.now() - BACKDATE).timestamp())
    claims = {"iss": ISSUER, "sub": user, "aud": audience, "iat": issued,
              "exp": issued + int(BACKDATE.total_seconds()) + lifetime_seconds,
              "jti": secrets.token_hex(16)}
    key = Institution(config, "platform").keys().signing_key(TOKEN_KEY)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "at+jwt"})


class PersonTokens:
    """A person's tokens for one service (a fresh one per request)."""

    def __init__(self, config: GenomlabConfig, user: str, audience: str) -> None:
        self.config, self.user, self.audience = config, user, audience

    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_person_token(self.config, self.user,
                                                               self.audience)}

    def forget(self) -> None:
        pass


def person_tokens(config: GenomlabConfig, user: str, audience: str) -> PersonTokens:
    return PersonTokens(config, user, audience)


def store_state(config: GenomlabConfig, kind: str) -> dict[str, int]:
    """Row count of every table of an institution's store (its ledger included)."""
    engine = Institution(config, kind).engine()  # type: ignore[arg-type]
    with engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in sorted(inspect(engine).get_table_names())}
