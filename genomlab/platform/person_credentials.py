"""People's credentials: one OAuth client of kind ``person`` per platform user.

A person is identified by a credential the platform issued, never by a name they type. The
platform's operator issues a *person client* to a registered user (``genomlab platform users
issue-credential USER``): a ``client_id`` and a random 256-bit ``client_secret`` written once
into the person's credentials file (0600), and the ledger event ``person.credential.issued``
with only the secret's sha256. With it the person takes tokens at the platform's token endpoint
(client credentials, RFC 6749 §4.4) whose subject is the user id
(:meth:`genomlab.platform.access_tokens.AccessTokenAuthority.issue_person`); every service that
serves people checks them with :func:`genomlab.platform.access_tokens.verify_person_token`.

A credential works only while it is active and its user registered and not withdrawn:
:func:`authenticate_person` and :func:`get_person_status` read the platform's records at every
call, so a revoked credential (``person.credential.revoked``) or a withdrawn user
(``platform.user.withdrawn``) gets no token and their unexpired tokens stop working.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.applications import Workflow
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> Workflow(config).bootstrap_admin("root", institution="BfArM")
>>> issued = issue_person_credential(config, "root", actor="operator:bfarm")
>>> authenticate_person(config, issued.client_id, issued.client_secret).user_id
'root'
>>> get_person_status(config, "root")["roles"]
['admin']
"""

from __future__ import annotations

import hmac
import json
import os
import pwd
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.platform.applications import projection as app_tables
from genomlab.platform.oauth_clients import InvalidClient, secret_hash
from genomlab.platform.person_projection import person_clients_table, withdrawn_users_table
from genomlab.platform.store import open_platform_ledger, read_platform

PERSON_SCOPE = "person"
"""The one scope of a person client: act as that person at the services that serve people."""
PERSON_CLIENT_PREFIX = "person-"
"""Every person client's id starts so (a node client's starts with its node id, in lower case)."""
CLIENT_KIND = "person"
CREDENTIALS_ENV = "GENOMLAB_CREDENTIALS"
"""Environment variable naming a person's credentials file (the CLI's ``--credentials``)."""
DEFAULT_CREDENTIALS_PATH = Path("~/.genomlab/credentials.json")
"""Where a person's credentials file lives in their OS account (separated deployment)."""


@dataclass(frozen=True)
class IssuedPersonCredential:
    """A freshly issued person client: the secret exists only here and in the person's file."""

    client_id: str
    client_secret: str
    user_id: str
    scope: str


@dataclass(frozen=True)
class PersonIdentity:
    """A person whose credential is active and who is registered and not withdrawn."""

    user_id: str
    client_id: str


def get_operator_actor() -> str:
    """The ledger actor of an operator command: the OS account that could open the store.

    An operator authenticates by having the platform's folder and store (the OS checked that),
    so the actor is that account as the kernel knows it (effective uid), never a name on the
    command line or in ``$USER``/``$LOGNAME``.
    """
    uid = os.geteuid()
    try:
        return f"operator:{pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"operator:uid-{uid}"


def get_embedded_credentials_path(config: GenomlabConfig, user_id: str) -> Path:
    """The embedded default's credentials file of ``user_id``.

    ``<home>/people/<user>/credentials.json``; in a separated deployment the person's own
    ``~/.genomlab/credentials.json`` instead.
    """
    if not user_id or "/" in user_id or user_id.startswith("."):
        raise ValidationFailed(f"credentials: user id {user_id!r} is not a plain name")
    return config.home / "people" / user_id / "credentials.json"


def _withdrawn(conn: Connection, user_id: str) -> bool:
    return (
        conn.execute(
            select(withdrawn_users_table.c.user_id).where(
                withdrawn_users_table.c.user_id == user_id
            )
        ).first()
        is not None
    )


def _registered(conn: Connection, user_id: str) -> Any:
    return conn.execute(
        select(app_tables.users).where(app_tables.users.c.user_id == user_id)
    ).first()


def _active_credentials(conn: Connection, user_id: str) -> list[str]:
    return list(
        conn.execute(
            select(person_clients_table.c.client_id)
            .where(
                person_clients_table.c.user_id == user_id,
                person_clients_table.c.status == "active",
            )
            .order_by(person_clients_table.c.issued_at, person_clients_table.c.client_id)
        ).scalars()
    )


def issue_person_credential(
    config: GenomlabConfig, user_id: str, *, actor: str, replace: bool = False
) -> IssuedPersonCredential:
    """Issue registered user ``user_id`` a person client; ``replace`` revokes their active ones.

    Raises :class:`NotFoundError` for an unregistered user, :class:`PermissionDenied` for a
    withdrawn one and :class:`ConflictError` if they have an active credential and ``replace``
    is false.
    """
    with open_platform_ledger(config).transaction() as tx:
        if _registered(tx.conn, user_id) is None:
            raise NotFoundError(f"issue credential: {user_id} is not a registered platform user")
        if _withdrawn(tx.conn, user_id):
            raise PermissionDenied(f"issue credential: {user_id} was withdrawn from the platform")
        active = _active_credentials(tx.conn, user_id)
        if active and not replace:
            raise ConflictError(
                f"issue credential: {user_id} already has credential {active[0]}; "
                "use --replace to issue a new one"
            )
        for client_id in active:
            tx.append(
                "person.credential.revoked",
                {"client_id": client_id, "user_id": user_id, "reason": "replaced"},
                actor=actor,
                stream=f"person:{user_id}",
            )
        client_id = f"{PERSON_CLIENT_PREFIX}{secrets.token_hex(8)}"
        client_secret = secrets.token_urlsafe(32)
        tx.append(
            "person.credential.issued",
            {
                "client_id": client_id,
                "user_id": user_id,
                "secret_hash": secret_hash(client_secret),
                "scope": PERSON_SCOPE,
            },
            actor=actor,
            stream=f"person:{user_id}",
        )
    return IssuedPersonCredential(client_id, client_secret, user_id, PERSON_SCOPE)


def revoke_person_credential(
    config: GenomlabConfig, client_id: str, *, actor: str, reason: str
) -> str:
    """Revoke person client ``client_id`` (its tokens stop working); returns its user id."""
    with open_platform_ledger(config).transaction() as tx:
        row = tx.conn.execute(
            select(person_clients_table).where(person_clients_table.c.client_id == client_id)
        ).first()
        if row is None:
            raise NotFoundError(f"revoke credential: {client_id} is not a person credential")
        if row.status != "active":
            raise ConflictError(f"revoke credential: {client_id} is already {row.status}")
        tx.append(
            "person.credential.revoked",
            {"client_id": client_id, "user_id": row.user_id, "reason": reason},
            actor=actor,
            stream=f"person:{row.user_id}",
        )
    return str(row.user_id)


def withdraw_user(config: GenomlabConfig, user_id: str, *, actor: str, reason: str) -> None:
    """Withdraw ``user_id`` from the platform: their credentials are revoked, tokens stop."""
    if len(reason.strip()) < 5:
        raise ValidationFailed(f"withdraw {user_id}: reason: at least 5 characters")
    with open_platform_ledger(config).transaction() as tx:
        if _registered(tx.conn, user_id) is None:
            raise NotFoundError(f"withdraw: {user_id} is not a registered platform user")
        if _withdrawn(tx.conn, user_id):
            raise ConflictError(f"withdraw: {user_id} is already withdrawn")
        for client_id in _active_credentials(tx.conn, user_id):
            tx.append(
                "person.credential.revoked",
                {"client_id": client_id, "user_id": user_id, "reason": "user withdrawn"},
                actor=actor,
                stream=f"person:{user_id}",
            )
        tx.append(
            "platform.user.withdrawn",
            {"user_id": user_id, "reason": reason.strip()},
            actor=actor,
            stream=f"person:{user_id}",
        )


def require_usable_person(conn: Connection, client_id: str) -> PersonIdentity:
    """The person behind ``client_id`` if the credential is active and the user may act."""
    row = conn.execute(
        select(person_clients_table.c.user_id, person_clients_table.c.status).where(
            person_clients_table.c.client_id == client_id
        )
    ).first()
    if row is None or row.status != "active":
        raise InvalidClient(f"client {client_id} is not an active person credential")
    if _registered(conn, row.user_id) is None or _withdrawn(conn, row.user_id):
        raise InvalidClient(f"client {client_id}: user {row.user_id} may not act on the platform")
    return PersonIdentity(row.user_id, client_id)


def authenticate_person(
    config: GenomlabConfig, client_id: str, client_secret: str
) -> PersonIdentity:
    """Check a person client's credentials (constant-time) and that the person may act now."""
    with read_platform(config) as conn:
        row = conn.execute(
            select(person_clients_table.c.secret_hash).where(
                person_clients_table.c.client_id == client_id
            )
        ).first()
        stored = "" if row is None else row.secret_hash
        if (
            not hmac.compare_digest(stored.encode(), secret_hash(client_secret).encode())
            or row is None
        ):
            raise InvalidClient("client authentication failed")
        return require_usable_person(conn, client_id)


def get_person_status(config: GenomlabConfig, user_id: str) -> dict[str, Any]:
    """A platform user's standing now: what a service re-checks at every request of theirs.

    ``{user_id, institution, active, withdrawn, roles, active_credentials}``; ``active`` is
    false for a withdrawn user. Raises :class:`NotFoundError` for an unregistered user.
    """
    with read_platform(config) as conn:
        user = _registered(conn, user_id)
        if user is None:
            raise NotFoundError(f"person {user_id} is not a registered platform user")
        withdrawn = _withdrawn(conn, user_id)
        roles = sorted(
            conn.execute(
                select(app_tables.roles.c.role).where(app_tables.roles.c.user_id == user_id)
            ).scalars()
        )
        credentials = _active_credentials(conn, user_id)
    return {
        "user_id": user_id,
        "institution": user.institution,
        "active": not withdrawn,
        "withdrawn": withdrawn,
        "roles": [] if withdrawn else roles,
        "active_credentials": [] if withdrawn else credentials,
    }


def list_person_credentials(config: GenomlabConfig) -> list[dict[str, Any]]:
    """Every issued person credential (without its secret hash), by user and issue time."""
    with read_platform(config) as conn:
        rows = conn.execute(
            select(person_clients_table).order_by(
                person_clients_table.c.user_id, person_clients_table.c.issued_at
            )
        ).all()
    return [{k: v for k, v in row._mapping.items() if k != "secret_hash"} for row in rows]


# --- the credentials file -----------------------------------------------------------------------


@dataclass(frozen=True)
class PersonCredentials:
    """A person's credentials file: the client and where to take tokens.

    ``user_id`` is what the platform issued it for, kept for messages only: who acts is the
    subject of the token the platform issues for the client, never this field.
    """

    client_id: str
    client_secret: str
    user_id: str
    token_url: str | None = None
    platform_url: str | None = None
    """The platform service's base URL when the file was issued (``token_url`` is its
    ``/oauth2/token``); used where the person cannot read ``<home>/services/``."""
    ca_pem: str | None = None
    """The platform service's CA certificate (PEM), which the person's client trusts."""


def save_person_credentials(path: Path, credentials: PersonCredentials) -> None:
    """Write ``credentials`` to ``path`` (0600, folder 0700, atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {
                "kind": CLIENT_KIND,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "user_id": credentials.user_id,
                "token_url": credentials.token_url,
                "platform_url": credentials.platform_url,
                "ca_pem": credentials.ca_pem,
            },
            out,
            indent=2,
        )
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def load_person_credentials(path: Path) -> PersonCredentials:
    """The person credentials in ``path``; a one-line error naming the file and field otherwise."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"{path}: no person credentials (the platform's operator issues them with "
            "genomlab platform users issue-credential USER)"
        ) from exc
    except PermissionError as exc:
        raise PermissionDenied(f"{path}: cannot read the credentials file ({exc})") from exc
    except ValueError as exc:
        raise ValidationFailed(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValidationFailed(f"{path}: not a JSON object")
    if data.get("kind") != CLIENT_KIND:
        raise ValidationFailed(f"{path}: field kind: expected {CLIENT_KIND!r}")
    for field in ("client_id", "client_secret", "user_id"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ValidationFailed(f"{path}: field {field}: missing or not text")
    optional = {}
    for field in ("token_url", "platform_url", "ca_pem"):
        value = data.get(field)
        if value is not None and not isinstance(value, str):
            raise ValidationFailed(f"{path}: field {field}: not text")
        optional[field] = value
    return PersonCredentials(data["client_id"], data["client_secret"], data["user_id"], **optional)


def get_credentials_path(explicit: Path | None, environ: dict[str, str] | None = None) -> Path:
    """The credentials file a person command uses: ``explicit`` (``--credentials``), else
    ``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``."""
    environ = dict(os.environ) if environ is None else environ
    if explicit is not None:
        return explicit
    if environ.get(CREDENTIALS_ENV):
        return Path(environ[CREDENTIALS_ENV]).expanduser()
    return DEFAULT_CREDENTIALS_PATH.expanduser()


def ensure_embedded_credentials(
    config: GenomlabConfig, users: list[str], *, actor: str
) -> list[Path]:
    """Give each of ``users`` a credentials file in the embedded default place
    (:func:`get_embedded_credentials_path`) unless they have one; returns every file.

    What the demo and a one-account installation do for their people (the operator's
    ``users issue-credential`` per person). A user without a file gets a new credential
    (``replace``: one whose file was lost is revoked).
    """
    paths = []
    for user_id in users:
        path = get_embedded_credentials_path(config, user_id)
        if not path.exists():
            issued = issue_person_credential(config, user_id, actor=actor, replace=True)
            save_person_credentials(
                path, PersonCredentials(issued.client_id, issued.client_secret, user_id)
            )
        paths.append(path)
    return paths
