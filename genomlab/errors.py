"""Errors that the CLI turns into a one-line reason and a non-zero exit."""

from __future__ import annotations


class GenomlabError(Exception):
    """A refusal or failure a user should read: the message names the file, record and field."""


class NotFoundError(GenomlabError):
    """A named record, file or institution does not exist."""


class PermissionDenied(GenomlabError):
    """The acting user lacks the role, entitlement or consent the operation needs."""


class ConflictError(GenomlabError):
    """The operation lost a race or contradicts the current state (e.g. already decided)."""


class ValidationFailed(GenomlabError):
    """Input data failed validation; the message names the file, record and field."""


class EventRefused(GenomlabError):
    """A ledger refused an event: its type is not declared or its payload does not fit the model.

    ``event_type`` and ``field`` (``None`` for an undeclared type) name what was refused;
    nothing was recorded.
    """

    def __init__(self, message: str, *, event_type: str, field: str | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.field = field
