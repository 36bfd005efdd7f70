"""People's credentials and withdrawals: tables and the projection that fills them.

``platform_person_clients`` holds each OAuth client of kind ``person`` the platform issued to a
platform user (secret only as sha256), ``platform_withdrawn_users`` the users who may no longer
act. :mod:`genomlab.platform.person_credentials` writes the events; this module only projects
them.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table, insert, update

from genomlab.ledger import DispatchProjection, Event, EventHandler

metadata = MetaData()
person_clients_table = Table(
    "platform_person_clients",
    metadata,
    Column("client_id", String(40), primary_key=True),
    Column("user_id", String(200), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scope", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("changed_at", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
)
withdrawn_users_table = Table(
    "platform_withdrawn_users",
    metadata,
    Column("user_id", String(200), primary_key=True),
    Column("withdrawn_at", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
)


def _issued(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        insert(person_clients_table).values(
            client_id=p["client_id"],
            user_id=p["user_id"],
            secret_hash=p["secret_hash"],
            scope=p["scope"],
            status="active",
            issued_at=event.recorded_at,
            changed_at=event.recorded_at,
            reason="",
        )
    )


def _revoked(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        update(person_clients_table)
        .where(person_clients_table.c.client_id == p["client_id"])
        .values(status="revoked", changed_at=event.recorded_at, reason=p["reason"])
    )


def _withdrawn(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(
        insert(withdrawn_users_table).values(
            user_id=p["user_id"], withdrawn_at=event.recorded_at, reason=p["reason"]
        )
    )


PERSON_HANDLERS: dict[str, EventHandler] = {
    "person.credential.issued": _issued,
    "person.credential.revoked": _revoked,
    "platform.user.withdrawn": _withdrawn,
}


class PersonProjection(DispatchProjection):
    """Applies ``person.credential.*`` and ``platform.user.withdrawn`` to the people's tables."""

    metadata = metadata
    handlers = PERSON_HANDLERS


PERSON_PROJECTION = PersonProjection()
