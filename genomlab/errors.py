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
