"""People and service clients for the services people call (data service, airlock).

:func:`person_tokens` issues a person the platform's person credential (as ``genomlab platform
users issue-credential`` does) and takes tokens for it from the running platform's token
endpoint; :func:`mint_person_token` signs a token by hand with the platform's key, for the
refusals a real credential cannot produce (another audience, an expired token).
:func:`save_service_client` gives a service its own platform client (``--save``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt
from sqlalchemy import func, inspect, select, table

from genomlab import clock
from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    get_credentials_path,
    save_client_credentials,
)
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.access_tokens import ISSUER, TOKEN_KEY
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import issue_client
from genomlab.platform.person_credentials import (
    PERSON_SCOPE,
    PersonCredentials,
    issue_person_credential,
)

BACKDATE = timedelta(seconds=60)
"""Hand-made tokens are issued a minute back: under faketime a service started after the test
process runs behind it, and must not see a token "issued in the future"."""


_ISSUED: dict[tuple[str, str], PersonCredentials] = {}


def person_credentials(config: GenomlabConfig, user: str) -> PersonCredentials:
    """``user``'s person credential (issued once per home)."""
    key = (str(config.home), user)
    if key not in _ISSUED:
        issued = issue_person_credential(config, user, actor="operator:test", replace=True)
        _ISSUED[key] = PersonCredentials(issued.client_id, issued.client_secret, user)
    return _ISSUED[key]


def person_tokens(config: GenomlabConfig, user: str) -> BearerTokens:
    """Tokens for ``user`` from the running platform (a registered platform user)."""
    return BearerTokens(config, person_credentials(config, user), PERSON_SCOPE)


def mint_person_token(
    config: GenomlabConfig, user: str, audience: str, *, lifetime_seconds: int = 300
) -> str:
    """A person token for ``user``'s active credential at ``audience`` only, signed with the
    platform's key (expired if the lifetime is < 0)."""
    issued = int((clock.now() - BACKDATE).timestamp())
    claims = {
        "iss": ISSUER,
        "sub": user,
        "aud": audience,
        "iat": issued,
        "exp": issued + int(BACKDATE.total_seconds()) + lifetime_seconds,
        "jti": secrets.token_hex(16),
        "scope": PERSON_SCOPE,
        "client_kind": "person",
        "client_id": person_credentials(config, user).client_id,
    }
    key = Institution(config, "platform").keys().signing_key(TOKEN_KEY)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "at+jwt"})


def save_service_client(config: GenomlabConfig, kind: str, node_id: str) -> None:
    """Approve ``node_id`` and save its platform client as service ``kind``'s own
    (``<kind>/platform-client.json``)."""
    NodeRegistry(config).ensure_approved(node_id, name=f"{kind} test client", actor="bfarm-op")
    issued = issue_client(config, node_id, actor="bfarm-op", replace=True)
    save_client_credentials(
        get_credentials_path(Institution(config, kind).directory),  # type: ignore[arg-type]
        ClientCredentials(issued.client_id, issued.client_secret, node_id),
    )


def store_state(config: GenomlabConfig, kind: str) -> dict[str, int]:
    """Row count of every table of an institution's store (its ledger included)."""
    engine = Institution(config, kind).engine()  # type: ignore[arg-type]
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in sorted(inspect(engine).get_table_names())
        }


def ledger_report(config: GenomlabConfig, kind: str) -> str:
    """An institution's full ledger verification, as ``genomlab ledger verify --full`` prints
    it (``ok: …`` when every event, checkpoint and the signed head verify)."""
    return str(Institution(config, kind).ledger().verify(full=True))  # type: ignore[arg-type]


def state_changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The tables whose row count differs between two :func:`store_state` snapshots, with the
    difference (``{}``: nothing changed)."""
    return {name: after.get(name, 0) - before.get(name, 0)
            for name in sorted(set(before) | set(after))
            if after.get(name, 0) != before.get(name, 0)}
