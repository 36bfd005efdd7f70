"""Every running service's own ledger health, asked with a person's token.

Behind the hub each institution's ledger is readable by its own account only, so the
ledger-health dashboard asks each service recorded in ``<home>/services/*.json`` for
``GET /api/ledger-health`` (:mod:`genomlab.services.ledger_health_api`; platform staff only,
:data:`~genomlab.platform.applications.queries.MONITORING_ROLES`) and merges the answers. A
service that does not answer (stopped, unreachable, no such endpoint, an error) is one row with
status ``unreachable``; a refusal of the person (401, 403) is raised, as the other dashboards do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from genomlab.clients.oauth import (
    BearerTokens,
    InvalidCredentials,
    ServiceEndpoint,
    ServiceUnavailable,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, PermissionDenied
from genomlab.ledger_health import (
    ACTIVITY_SCHEMA,
    HEALTH_SCHEMA,
    get_unreachable_row,
)

LEDGER_HEALTH_PATH = "/api/ledger-health"


def get_service_records(config: GenomlabConfig) -> list[tuple[str, ServiceEndpoint | None]]:
    """``(service name, endpoint)`` of every record in ``<home>/services/`` (sorted; the
    endpoint ``None`` for a record that cannot be read)."""
    found: list[tuple[str, ServiceEndpoint | None]] = []
    for path in sorted((config.home / "services").glob("*.json")):
        try:
            record = json.loads(path.read_text())
            name = str(record.get("service", path.stem))
            found.append((name, ServiceEndpoint(name, str(record["url"]), Path(record["ca"]))))
        except (OSError, ValueError, KeyError, AttributeError):
            found.append((path.stem, None))
    return found


def get_ledger_health(endpoint: ServiceEndpoint, tokens: BearerTokens) -> dict[str, Any]:
    """One service's answer ``{"health": row, "activity": [rows]}``; its refusal as the
    matching error (401 → InvalidCredentials, 403 → PermissionDenied, else ServiceUnavailable
    and the others of :func:`~genomlab.clients.oauth.raise_for_answer`)."""
    try:
        with endpoint.http() as http:
            answer = http.get(LEDGER_HEALTH_PATH, headers=tokens.headers())
            if answer.status_code == 401:  # e.g. the platform restarted: one fresh token
                tokens.forget()
                answer = http.get(LEDGER_HEALTH_PATH, headers=tokens.headers())
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"{endpoint.name}: {exc}") from exc
    body: dict[str, Any] = raise_for_answer(endpoint.name, answer)
    return body


def get_service_ledger_health(config: GenomlabConfig, tokens: BearerTokens,
                              ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The health frame (one row per recorded service) and the activity frame, as
    :func:`genomlab.dashboards.ledger_health.compute_ledger_health` and
    ``compute_daily_activity`` compute them in-process."""
    health: list[dict[str, Any]] = []
    activity: list[dict[str, Any]] = []
    for name, endpoint in get_service_records(config):
        if endpoint is None:
            health.append(get_unreachable_row(name))
            continue
        try:
            body = get_ledger_health(endpoint, tokens)
        except (InvalidCredentials, PermissionDenied):
            raise
        except GenomlabError:  # 404 (no endpoint), 503, a stopped service: shown, not raised
            health.append(get_unreachable_row(name))
            continue
        health.append(body["health"])
        activity += body["activity"]
    return (pl.DataFrame(health, schema=HEALTH_SCHEMA),
            pl.DataFrame(activity, schema=ACTIVITY_SCHEMA))
