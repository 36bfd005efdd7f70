"""The platform's node registry: which genome data centres, clinical nodes and data services exist.

A node is applied for, then approved, suspended (and approved again) or revoked by the platform;
each decision is an event in the platform ledger (stream ``node:<id>``) and the table
``platform_nodes`` holds the current state. Only an ``approved`` node may hand in a Prüfbericht
(:mod:`genomlab.platform.confirmations`); a suspended or revoked node is refused, and the refusal
is recorded too.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> registry = NodeRegistry(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
>>> registry.apply("GRZK00001", name="GRZ Köln", actor="op")
>>> registry.approve("GRZK00001", actor="bfarm")
>>> registry.get_node("GRZK00001")["status"]
'approved'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, select

from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.ledger import Ledger, LedgerTransaction
from genomlab.platform.node_projection import (  # noqa: F401  (re-exported registry tables)
    NODE_PROJECTION,
    TRANSITIONS,
    NodeProjection,
    NodeStatus,
    confirmations_table,
    metadata,
    nodes_table,
    refusals_table,
)
from genomlab.platform.store import open_platform_ledger

NodeKind = Literal["grz", "kdk", "data_service", "trust_center", "airlock"]

NODE_ID_PATTERNS: dict[NodeKind, re.Pattern[str]] = {
    "grz": re.compile(r"^GRZ[A-Z0-9]{3}[0-9]{3}$"),
    "kdk": re.compile(r"^KDK[A-Z0-9]{3}[0-9]{3}$"),
    "data_service": re.compile(r"^DS[A-Z0-9]{1,12}$"),
    "trust_center": re.compile(r"^VST[A-Z0-9]{1,12}$"),
    "airlock": re.compile(r"^AIRLOCK[A-Z0-9]{0,12}$"),
}
"""Official GRZ/KDK id formats (grz-pydantic-models); data services are named ``DS…``, the
trust centre (Vertrauensstelle, a client of the platform's status look-ups) ``VST…``, the
airlock (output checking: asks the platform about people and projects, records releases in
the register) ``AIRLOCK…``."""

PLACEHOLDER_ID = re.compile(r"^UNPUB-(GRZ|KDK)-[A-Z0-9]{1,10}$")
"""A node BfArM lists without a published id (:mod:`genomlab.platform.node_seed`): the hyphens
and the prefix cannot match an official id, and BfArM's Prüfbericht model refuses it."""

def get_node_kind(node_id: str) -> NodeKind:
    """The kind a node id names, or :class:`ValidationFailed` naming the field.

    Examples
    --------
    >>> get_node_kind("KDKTUE005")
    'kdk'
    >>> get_node_kind("UNPUB-KDK-NNGM")
    'kdk'
    """
    for kind, pattern in NODE_ID_PATTERNS.items():
        if pattern.match(node_id):
            return kind
    placeholder = PLACEHOLDER_ID.match(node_id)
    if placeholder:
        return "grz" if placeholder.group(1) == "GRZ" else "kdk"
    raise ValidationFailed(f"field node_id: {node_id!r} is not a GRZ, KDK, DS, VST or AIRLOCK "
                           "id (nor an UNPUB- placeholder)")


def open_registry_ledger(config: GenomlabConfig) -> Ledger:
    """The platform ledger (all its projections; see :func:`open_platform_ledger`)."""
    return open_platform_ledger(config)


def require_approved(conn: Connection, node_id: str) -> Any:
    """The registry row of ``node_id`` if it is approved; else :class:`PermissionDenied`."""
    row = conn.execute(select(nodes_table).where(nodes_table.c.node_id == node_id)).first()
    if row is None:
        raise PermissionDenied(f"node {node_id} is not registered with the platform")
    if row.status != "approved":
        raise PermissionDenied(f"node {node_id} is {row.status}, not approved")
    return row


class NodeRegistry:
    """Apply for, approve, suspend and revoke nodes on the platform ledger."""

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config
        self.ledger = open_registry_ledger(config)

    @contextmanager
    def _node_tx(self, node_id: str) -> Iterator[tuple[LedgerTransaction, Any]]:
        with self.ledger.transaction() as tx:
            row = tx.conn.execute(select(nodes_table).where(nodes_table.c.node_id == node_id)
                                  ).first()
            yield tx, row

    def apply(self, node_id: str, *, name: str, actor: str) -> None:
        """Record an application for ``node_id`` (kind from its id format)."""
        kind = get_node_kind(node_id)
        if not name.strip():
            raise ValidationFailed(f"node {node_id}: field name is empty")
        with self._node_tx(node_id) as (tx, row):
            if row is not None:
                raise ConflictError(f"node {node_id} already registered ({row.status})")
            tx.append("node.applied", {"node_id": node_id, "kind": kind, "name": name.strip()},
                      actor=actor, stream=f"node:{node_id}")

    def _decide(self, event_type: str, node_id: str, actor: str, reason: str) -> None:
        allowed, _ = TRANSITIONS[event_type]
        with self._node_tx(node_id) as (tx, row):
            if row is None:
                raise NotFoundError(f"node {node_id} is not registered")
            if row.status not in allowed:
                raise ConflictError(f"node {node_id} is {row.status}: cannot {event_type[5:-1]}")
            tx.append(event_type, {"node_id": node_id, "reason": reason},
                      actor=actor, stream=f"node:{node_id}")

    def approve(self, node_id: str, *, actor: str, reason: str = "") -> None:
        """Approve an applied (or re-approve a suspended) node."""
        self._decide("node.approved", node_id, actor, reason)

    def suspend(self, node_id: str, *, actor: str, reason: str) -> None:
        """Suspend an approved node: its Prüfberichte are refused until approved again."""
        self._decide("node.suspended", node_id, actor, reason)

    def revoke(self, node_id: str, *, actor: str, reason: str) -> None:
        """Revoke a node for good: its Prüfberichte are refused."""
        self._decide("node.revoked", node_id, actor, reason)

    def get_node(self, node_id: str) -> dict[str, Any]:
        """The registry row of ``node_id`` as a dict."""
        with read_connection(self.ledger.engine) as conn:
            row = conn.execute(select(nodes_table).where(nodes_table.c.node_id == node_id)
                               ).first()
        if row is None:
            raise NotFoundError(f"node {node_id} is not registered")
        return dict(row._mapping)

    def list_nodes(self) -> list[dict[str, Any]]:
        """All registered nodes, ordered by id."""
        with read_connection(self.ledger.engine) as conn:
            rows = conn.execute(select(nodes_table).order_by(nodes_table.c.node_id)).all()
        return [dict(r._mapping) for r in rows]

    def ensure_approved(self, node_id: str, *, name: str, actor: str) -> None:
        """Apply for and approve ``node_id`` unless it already is approved (demo/intake set-up).

        A suspended or revoked node stays as it is: that decision is not undone here.
        """
        with read_connection(self.ledger.engine) as conn:
            row = conn.execute(select(nodes_table.c.status)
                               .where(nodes_table.c.node_id == node_id)).first()
        if row is None:
            self.apply(node_id, name=name, actor=actor)
            self.approve(node_id, actor=actor, reason="registered for intake")
        elif row.status == "applied":
            self.approve(node_id, actor=actor, reason="registered for intake")
