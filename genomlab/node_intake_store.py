"""The projection side of the shared node intake: how ``<noun>.<state>`` events move an item row.

:mod:`genomlab.node_intake` is the state machine a GRZ and a KDK share; this module gives both
node kinds' projections the handlers that follow from it, so the two items tables
(``grz_submissions``, ``kdk_records``) move through the states in one way. Each node adds the
handlers of its own steps (what ``validated`` fills, how ``pseudonymised`` and ``stored`` are
recorded, a GRZ's detailed-QC sampling).

Neutral like :mod:`genomlab.node_intake`: neither node kind imports the other.

Examples
--------
>>> from sqlalchemy import Column, MetaData, String, Table, create_engine
>>> from genomlab.ledger import Event
>>> items = Table("items", MetaData(), Column("item_id", String, primary_key=True),
...               Column("state", String), Column("confirmation_id", String),
...               Column("received_at", String), Column("updated_at", String))
>>> handlers = get_intake_item_handlers(items, "item_id", "item")
>>> sorted(handlers)
['item.finished', 'item.received', 'item.reported']
>>> engine = create_engine("sqlite://")
>>> items.metadata.create_all(engine)
>>> def event(type_, **payload):
...     return Event(seq=1, recorded_at="2026-06-01T09:00:00+00:00", actor="grz:X", type=type_,
...                  stream="item:a", payload={"item_id": "a", **payload}, prev_hash="",
...                  hash="", key_id="", signature="")
>>> with engine.begin() as conn:
...     handlers["item.received"](conn, event("item.received"))
...     handlers["item.reported"](conn, event("item.reported", confirmation_id="MB-1"))
...     conn.execute(items.select()).one()
('a', 'reported', 'MB-1', '2026-06-01T09:00:00+00:00', '2026-06-01T09:00:00+00:00')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert, update

from genomlab.ledger import Event, EventHandler
from genomlab.node_intake import IntakeState


def set_items(conn: Connection, items: Table, key: str, event: Event, keys: Sequence[str],
              **values: Any) -> None:
    """Update the rows of ``keys`` in ``items`` with ``values`` (and the event's time)."""
    conn.execute(update(items).where(items.c[key].in_(list(keys)))
                 .values(updated_at=event.recorded_at, **values))


def get_item_state_handler(items: Table, key: str, state: IntakeState | None,
                           **columns: str) -> EventHandler:
    """A handler that moves the event's item to ``state`` (``None``: keeps it) and copies
    ``columns`` (column → payload key) from the payload."""
    def apply(conn: Connection, event: Event) -> None:
        p = event.payload
        values = {column: p[field] for column, field in columns.items()}
        if state is not None:
            values["state"] = state
        set_items(conn, items, key, event, [p[key]], **values)
    return apply


def get_intake_item_handlers(items: Table, key: str, noun: str) -> dict[str, EventHandler]:
    """The handlers every node kind shares: an item is received, reported, finished."""
    def received(conn: Connection, event: Event) -> None:
        conn.execute(insert(items).values({key: event.payload[key], "state": "received",
                                           "received_at": event.recorded_at,
                                           "updated_at": event.recorded_at}))
    return {
        f"{noun}.received": received,
        f"{noun}.reported": get_item_state_handler(items, key, "reported",
                                                   confirmation_id="confirmation_id"),
        f"{noun}.finished": get_item_state_handler(items, key, "finished"),
    }
