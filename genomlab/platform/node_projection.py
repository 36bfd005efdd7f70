"""The node registry's tables and the projection that fills them from the platform ledger.

``platform_nodes`` holds each node's current state, ``platform_confirmations`` the issued
Meldebestätigungen (TAN only as sha256), ``platform_confirmations_replaced`` the ones a corrected
report superseded, ``platform_confirmation_billings`` each confirmation's one billing by an
insurer, ``platform_pruefbericht_refusals`` the refused
Prüfberichte, ``platform_oauth_clients`` the machine clients the platform issued to nodes (secret
only as sha256). :mod:`genomlab.platform.nodes` and :mod:`genomlab.platform.oauth_clients` write
the events; this module only projects them.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    MetaData,
    String,
    Table,
    delete,
    insert,
    update,
)

from genomlab.ledger import DispatchProjection, Event, EventHandler

NodeStatus = Literal["applied", "approved", "suspended", "revoked"]

TRANSITIONS: dict[str, tuple[tuple[str, ...], NodeStatus]] = {
    "node.approved": (("applied", "suspended"), "approved"),
    "node.suspended": (("approved",), "suspended"),
    "node.revoked": (("applied", "approved", "suspended"), "revoked"),
}
"""Event type → (states it may follow, resulting state)."""

CONFIRMATION_FIELDS = ("confirmation_id", "node_id", "data_category", "submission_type",
                       "submission_date", "submitter_id", "disease_type", "library_type",
                       "coverage_type", "qc_passed", "tan_hash")

metadata = MetaData()
nodes_table = Table(
    "platform_nodes", metadata,
    Column("node_id", String(20), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("applied_at", String(32), nullable=False),
    Column("changed_at", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
)
confirmations_table = Table(
    "platform_confirmations", metadata,
    Column("confirmation_id", String(40), primary_key=True),
    Column("node_id", String(20), nullable=False, index=True),
    Column("data_category", String(20), nullable=False),
    Column("submission_type", String(20), nullable=False),
    Column("submission_date", String(10), nullable=False),
    Column("submitter_id", String(9), nullable=False),
    Column("disease_type", String(20), nullable=False),
    Column("library_type", String(10), nullable=False),
    Column("coverage_type", String(5), nullable=False),
    Column("qc_passed", Boolean, nullable=False),
    Column("tan_hash", String(64), nullable=False, unique=True),
    Column("issued_at", String(32), nullable=False),
    Column("leistungsdatum", String(11), nullable=True),
)
"""``leistungsdatum``: ``JJJJMMTT`` plus the hospital's counter of the day; null before 0011."""
Index("ix_platform_confirmations_submitter_leistungsdatum", confirmations_table.c.submitter_id,
      confirmations_table.c.leistungsdatum)
"""The next counter of a hospital's day is one index look-up (migration 0016), not a scan of the
day's confirmations (:func:`genomlab.platform.confirmations.get_next_leistungsdatum`)."""
replaced_table = Table(
    "platform_confirmations_replaced", metadata,
    Column("confirmation_id", String(40), primary_key=True),
    Column("replaced_by", String(40), nullable=False),
    Column("replaced_at", String(32), nullable=False),
)
billings_table = Table(
    "platform_confirmation_billings", metadata,
    Column("confirmation_id", String(40), primary_key=True),
    Column("insurer_ik", String(9), nullable=False),
    Column("billed_at", String(32), nullable=False),
)
refusals_table = Table(
    "platform_pruefbericht_refusals", metadata,
    Column("seq", String(20), primary_key=True),
    Column("node_id", String(20), nullable=False, index=True),
    Column("reason", String(500), nullable=False),
    Column("refused_at", String(32), nullable=False),
)

clients_table = Table(
    "platform_oauth_clients", metadata,
    Column("client_id", String(40), primary_key=True),
    Column("node_id", String(20), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scope", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("changed_at", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
)


def _applied(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(insert(nodes_table).values(
        node_id=p["node_id"], kind=p["kind"], name=p["name"], status="applied",
        applied_at=event.recorded_at, changed_at=event.recorded_at, reason=""))


def _transition(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(update(nodes_table).where(nodes_table.c.node_id == p["node_id"]).values(
        status=TRANSITIONS[event.type][1], changed_at=event.recorded_at, reason=p["reason"]))


def _confirmed(conn: Connection, event: Event) -> None:
    """A TAN's confirmation; a passed report replaces the row of a failed one (``replaces``)."""
    p = event.payload
    conn.execute(delete(confirmations_table).where(
        confirmations_table.c.tan_hash == p["tan_hash"]))
    conn.execute(insert(confirmations_table).values(
        **{c: p[c] for c in CONFIRMATION_FIELDS}, issued_at=event.recorded_at,
        leistungsdatum=p.get("leistungsdatum")))
    if p.get("replaces"):
        conn.execute(insert(replaced_table).values(
            confirmation_id=p["replaces"], replaced_by=p["confirmation_id"],
            replaced_at=event.recorded_at))


def _billed(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(insert(billings_table).values(
        confirmation_id=p["confirmation_id"], insurer_ik=p["insurer_ik"],
        billed_at=event.recorded_at))


def _refused(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(insert(refusals_table).values(
        seq=str(event.seq), node_id=p["node_id"], reason=p["reason"],
        refused_at=event.recorded_at))


def _client_issued(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(insert(clients_table).values(
        client_id=p["client_id"], node_id=p["node_id"], secret_hash=p["secret_hash"],
        scope=p["scope"], status="active", issued_at=event.recorded_at,
        changed_at=event.recorded_at, reason=""))


def _client_revoked(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(update(clients_table).where(clients_table.c.client_id == p["client_id"]).values(
        status="revoked", changed_at=event.recorded_at, reason=p["reason"]))


NODE_HANDLERS: dict[str, EventHandler] = {
    "node.applied": _applied,
    **dict.fromkeys(TRANSITIONS, _transition),
    "pruefbericht.confirmed": _confirmed,
    "pruefbericht.refused": _refused,
    "confirmation.billed": _billed,
    "oauth.client.issued": _client_issued,
    "oauth.client.revoked": _client_revoked,
}


class NodeProjection(DispatchProjection):
    """Applies ``node.*``, ``pruefbericht.*``, ``confirmation.billed`` and ``oauth.client.*``
    events to the registry tables."""

    metadata = metadata
    handlers = NODE_HANDLERS


NODE_PROJECTION = NodeProjection()
