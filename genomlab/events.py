"""Declared events: each institution names its event types, one payload model per type.

An institution declares its events in ``genomlab/<institution>/events.py`` as an
:class:`EventRegistry`: a mapping of event type to a pydantic model of the payload (as REMS
declares its event schemas). :meth:`genomlab.ledger.Ledger.append` validates every event against
the registry the ledger was opened with and refuses an undeclared type or an invalid payload with
:class:`genomlab.errors.EventRefused` naming the event type and the field; nothing is recorded.

A :class:`LedgerSpec` binds an institution's registry to its *full* set of projections. It is the
only way to open a ledger for writing, so a write cannot skip one of the institution's projections.

Payload models are strict about names (an unknown field is refused) and lenient about what older
homes stored: a field that later code added has a default, so that every stored event still
validates (``tests/migrations`` checks the shipped release-1 events).

Examples
--------
>>> class Noted(EventPayload):
...     text: str
>>> registry = EventRegistry("demo", {"demo.noted": Noted})
>>> registry.validate("demo.noted", {"text": "hello"})
{'text': 'hello'}
>>> registry.validate("demo.noted", {})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
EventRefused: demo: event demo.noted: field text: Field required
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from genomlab.errors import EventRefused

if TYPE_CHECKING:
    from genomlab.ledger import Projection


class EventPayload(BaseModel):
    """Base of every payload model: unknown fields are refused, nothing is coerced (strict)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SubmittedCaseFields(EventPayload):
    """The Prüfbericht's case fields: what a GRZ or KDK reports from the file it takes in and the
    platform records when it confirms one (``SubmittedCase`` of BfArM's model, snake case)."""

    submitter_id: str
    submission_date: str
    submission_type: str
    disease_type: str
    coverage_type: str
    library_type: str


class InstitutionInitialised(EventPayload):
    """``institution.initialised``: the first event ``genomlab demo`` writes to a new ledger."""

    institution: str
    store: str


class LedgerAnchored(EventPayload):
    """``ledger.anchored``: another institution's signed ledger head, as this one received it.

    An institution that rewrote its own history (even re-signed with its own key, or with a
    swapped key) no longer matches the heads its partner recorded (:mod:`genomlab.anchors`).
    """

    institution: str
    seq: int
    hash: str
    key_id: str
    recorded_at: str


class KeyAnchored(EventPayload):
    """``key.anchored``: the fingerprint of another institution's public key that this one
    trusts (sha256 over the raw key, :mod:`genomlab.trusted_keys`), recorded from the owner's
    signing key; a swapped public-key file no longer matches it. ``replaces``: the fingerprint
    anchored before, when the owner rotated the key (its ``key.rotated`` record; empty at the
    first anchoring)."""

    institution: str
    key: str
    fingerprint: str
    replaces: str = ""


COMMON_EVENTS: dict[str, type[EventPayload]] = {
    "institution.initialised": InstitutionInitialised,
    "ledger.anchored": LedgerAnchored,
    "key.anchored": KeyAnchored,
}
"""Events every institution's ledger accepts."""


@dataclass(frozen=True)
class EventRegistry:
    """The event types one institution kind declares, each with its payload model."""

    kind: str
    payloads: Mapping[str, type[BaseModel]]

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self.payloads)

    def validate(self, event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload as given if ``event_type`` is declared and it fits the model.

        Raises :class:`EventRefused` naming the event type and (for a payload) the field.
        The stored payload is the caller's, not a re-serialisation, so hashes stay the same.
        """
        model = self.payloads.get(event_type)
        if model is None:
            raise EventRefused(
                f"{self.kind}: event type {event_type!r} is not declared "
                f"(declared: {', '.join(sorted(self.payloads))})",
                event_type=event_type)
        try:  # as JSON: the stored form, so strict mode reads dates and nested models from it
            model.model_validate_json(json.dumps(dict(payload), ensure_ascii=False))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "payload"
            raise EventRefused(f"{self.kind}: event {event_type}: field {field}: {first['msg']}",
                               event_type=event_type, field=field) from exc
        return dict(payload)


def declare(kind: str, payloads: Mapping[str, type[BaseModel]]) -> EventRegistry:
    """The registry of ``kind``: its own declarations plus :data:`COMMON_EVENTS`."""
    clash = set(payloads) & set(COMMON_EVENTS)
    if clash:
        raise ValueError(f"{kind}: {sorted(clash)} are common events; do not redeclare them")
    return EventRegistry(kind, {**COMMON_EVENTS, **payloads})


@dataclass(frozen=True)
class LedgerSpec:
    """What a writable ledger of one institution kind carries: its events and all projections."""

    registry: EventRegistry
    projections: tuple[Projection, ...]

    @property
    def kind(self) -> str:
        return self.registry.kind

    @classmethod
    def of(cls, registry: EventRegistry, projections: Sequence[Projection]) -> LedgerSpec:
        return cls(registry, tuple(projections))
