"""OAuth 2.0 machine clients the platform issues to approved nodes (RFC 6749 §2.3, §4.4).

Each node instance (GRZ, KDK, data service) gets one confidential client: a ``client_id`` and a
random 256-bit ``client_secret`` shown once. The platform keeps only the secret's sha256 (a slow
password hash protects guessable passwords; a 256-bit random secret cannot be guessed, and the
token endpoint stays fast). Issuing, replacing and revoking a client are events in the platform
ledger (``oauth.client.issued``, ``oauth.client.revoked``); ``platform_oauth_clients`` holds the
current state.

A client is usable only while its node is approved: :func:`authenticate_client` and
:func:`require_usable_client` check the node's registry row at every call, so a suspended or
revoked node gets no token and its unexpired tokens stop working.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.nodes import NodeRegistry
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> NodeRegistry(config).ensure_approved("GRZK00001", name="GRZ", actor="op")
>>> issued = issue_client(config, "GRZK00001", actor="op")
>>> authenticate_client(config, issued.client_id, issued.client_secret).node_id
'GRZK00001'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied
from genomlab.platform.node_projection import clients_table, nodes_table
from genomlab.platform.nodes import require_approved
from genomlab.platform.store import open_platform_ledger, read_platform

SCOPES_BY_KIND = {"grz": "pruefbericht:upload pseudonyms:request status:read",
                  "kdk": "pruefbericht:upload pseudonyms:request status:read",
                  "data_service": ("approvals:read status:read linkage:request "
                                   "datasets:attributes datasets:read"),
                  "trust_center": "status:read datasets:attributes",
                  "airlock": "status:read projects:read register:write"}
"""The scopes a node kind's client may ask for (space-separated, RFC 6749 §3.3): nodes upload
Prüfberichte (platform) and exchange case numbers (trust centre); the data service reads
approvals (platform), looks up people's status (platform: each researcher's request is
re-checked) and asks for linkage maps (trust centre); the trust centre looks up node and
approval status at the platform; the airlock looks up people (status), project membership
(``projects:read``) and records releases in the register (``register:write``). A node's
service looks up its own approval and its callers' (``status:read``) and serves dataset
attributes and a GRZ's site counts to the trust centre and the data service
(``datasets:attributes``, audience ``urn:genomlab:node``) and the fields and genotypes of a
release to the data service only (``datasets:read``); identities are in no node scope."""


class InvalidClient(PermissionDenied):
    """Client authentication failed, or the client or its node may not act (``invalid_client``)."""


@dataclass(frozen=True)
class IssuedClient:
    """A freshly issued client: the secret exists only here and in the caller's hands."""

    client_id: str
    client_secret: str
    node_id: str
    scope: str


@dataclass(frozen=True)
class ClientIdentity:
    """A client that is active and whose node is approved, at the moment it was checked."""

    client_id: str
    node_id: str
    scope: str
    node_approved_at: str
    """``changed_at`` of the node's current approval: tokens bind to it (see access_tokens)."""


def secret_hash(secret: str) -> str:
    """sha256 hex of a client secret: what the platform stores."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_client(config: GenomlabConfig, node_id: str, *, actor: str,
                 replace: bool = False) -> IssuedClient:
    """Issue the client of approved node ``node_id``; ``replace`` revokes its current one first.

    Raises :class:`PermissionDenied` if the node is not approved and :class:`ConflictError` if it
    already has an active client and ``replace`` is false.
    """
    with open_platform_ledger(config).transaction() as tx:
        node = require_approved(tx.conn, node_id)
        active = tx.conn.execute(select(clients_table.c.client_id).where(
            clients_table.c.node_id == node_id, clients_table.c.status == "active")).all()
        if active and not replace:
            raise ConflictError(f"node {node_id} already has client {active[0].client_id}; "
                                "use --replace to issue a new one")
        for row in active:
            tx.append("oauth.client.revoked", {"client_id": row.client_id,
                                               "reason": "replaced by a new client"},
                      actor=actor, stream=f"node:{node_id}")
        client_id = f"{node_id.lower()}-{secrets.token_hex(6)}"
        client_secret = secrets.token_urlsafe(32)
        scope = SCOPES_BY_KIND[node.kind]
        tx.append("oauth.client.issued", {"client_id": client_id, "node_id": node_id,
                                          "secret_hash": secret_hash(client_secret),
                                          "scope": scope},
                  actor=actor, stream=f"node:{node_id}")
    return IssuedClient(client_id, client_secret, node_id, scope)


def revoke_client(config: GenomlabConfig, client_id: str, *, actor: str, reason: str) -> None:
    """Revoke ``client_id``: no more tokens, and its unexpired tokens stop working."""
    with open_platform_ledger(config).transaction() as tx:
        row = tx.conn.execute(select(clients_table).where(
            clients_table.c.client_id == client_id)).first()
        if row is None:
            raise NotFoundError(f"client {client_id} is not known to the platform")
        if row.status != "active":
            raise ConflictError(f"client {client_id} is already {row.status}")
        tx.append("oauth.client.revoked", {"client_id": client_id, "reason": reason},
                  actor=actor, stream=f"node:{row.node_id}")


_CLIENT_AND_NODE = select(
    clients_table.c.client_id, clients_table.c.node_id, clients_table.c.scope,
    clients_table.c.status, nodes_table.c.status.label("node_status"), nodes_table.c.changed_at,
).select_from(clients_table.outerjoin(nodes_table, clients_table.c.node_id
                                      == nodes_table.c.node_id)
              ).where(clients_table.c.client_id == bindparam("client_id"))
"""One query per request: the client's state and its node's (built once)."""


def require_usable_client(conn: Connection, client_id: str) -> ClientIdentity:
    """The identity of ``client_id`` if it is active and its node approved; else InvalidClient."""
    row = conn.execute(_CLIENT_AND_NODE, {"client_id": client_id}).first()
    if row is None or row.status != "active":
        raise InvalidClient(f"client {client_id} is not an active client of the platform")
    if row.node_status != "approved":
        status = row.node_status or "unknown"
        raise InvalidClient(f"client {client_id}: node {row.node_id} is {status}, not approved")
    return ClientIdentity(row.client_id, row.node_id, row.scope, row.changed_at)


def authenticate_client(config: GenomlabConfig, client_id: str,
                        client_secret: str) -> ClientIdentity:
    """Check a client's credentials (constant-time) and that it may act now; else InvalidClient."""
    with read_platform(config) as conn:
        row = conn.execute(select(clients_table.c.secret_hash).where(
            clients_table.c.client_id == client_id)).first()
        stored = "" if row is None else row.secret_hash
        if not hmac.compare_digest(stored.encode(), secret_hash(client_secret).encode()) \
                or row is None:
            raise InvalidClient("client authentication failed")
        return require_usable_client(conn, client_id)


def get_node_status(config: GenomlabConfig, node_id: str) -> dict[str, Any]:
    """A node's status now, when it was last decided and its active clients; NotFoundError.

    What another service (the trust centre) asks the platform at each request it serves: a
    token is honoured only while its client is active and its node approved by the same
    decision (``approved_at`` equals the token's ``node_approved_at``).
    """
    with read_platform(config) as conn:
        node = conn.execute(select(nodes_table.c.kind, nodes_table.c.status,
                                   nodes_table.c.changed_at)
                            .where(nodes_table.c.node_id == node_id)).first()
        if node is None:
            raise NotFoundError(f"node {node_id} is not registered with the platform")
        active = conn.execute(select(clients_table.c.client_id).where(
            clients_table.c.node_id == node_id, clients_table.c.status == "active")
            .order_by(clients_table.c.client_id)).scalars().all()
    return {"node_id": node_id, "kind": node.kind, "status": node.status,
            "approved_at": node.changed_at if node.status == "approved" else None,
            "active_clients": list(active)}


def list_clients(config: GenomlabConfig) -> list[dict[str, Any]]:
    """Every issued client (without its secret hash), ordered by node and issue time."""
    with read_platform(config) as conn:
        rows = conn.execute(select(clients_table).order_by(
            clients_table.c.node_id, clients_table.c.issued_at)).all()
    return [{k: v for k, v in row._mapping.items() if k != "secret_hash"} for row in rows]
