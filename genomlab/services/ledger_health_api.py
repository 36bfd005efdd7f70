"""``GET /api/ledger-health``: a service's own ledger health, for the ledger-health dashboard.

Mounted by every service people's tokens are meant for (platform, airlock, data service): one
router, :func:`create_ledger_health_router`, given the service's institution and its way of
verifying a person's bearer token (the platform's :class:`~genomlab.platform.access_tokens.
AccessTokenAuthority`, the others' :class:`~genomlab.services.person_check.PersonCheck`, which
asks the platform for the person's roles now). Answer: ``{"health": row, "activity": [rows]}``,
the rows :func:`genomlab.ledger_health.get_ledger_health_row` and
:func:`~genomlab.ledger_health.get_daily_activity_rows` compute for that ledger. Platform staff
only (:data:`~genomlab.platform.applications.queries.MONITORING_ROLES`): 401 for a missing or
invalid token, 403 for anyone else, 503 when the platform cannot be asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.clients.ledger_health import LEDGER_HEALTH_PATH
from genomlab.clients.oauth import ServiceUnavailable
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.ledger_health import get_daily_activity_rows, get_ledger_health_row
from genomlab.platform.applications.models import Role
from genomlab.platform.applications.queries import check_monitoring_access
from genomlab.services.oauth_http import OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def get_person_roles(person: Any) -> frozenset[Role]:
    """The platform roles of a verified person (names the platform does not know are dropped)."""
    return frozenset(Role(r) for r in person.roles if r in Role._value2member_map_)


def create_ledger_health_router(institution: Institution,
                                verify: Callable[[str | None], Any]) -> APIRouter:
    """The route for ``institution``'s ledger; ``verify(authorization)`` returns the verified
    person (``user_id``, ``roles``) or raises OAuthError / ServiceUnavailable."""
    router = APIRouter()

    def answer(authorization: str | None) -> JSONResponse:
        try:
            person = verify(authorization)
            check_monitoring_access(person.user_id, get_person_roles(person),
                                    f"{institution.name}: ledger health")
        except OAuthError as error:
            return JSONResponse(error.body(), status_code=error.status,
                                headers={**NO_STORE, **error.headers})
        except PermissionDenied as exc:
            return JSONResponse({"error": "forbidden", "error_description": str(exc)},
                                status_code=403, headers=NO_STORE)
        except ServiceUnavailable as exc:
            return JSONResponse({"error": "unavailable", "error_description": str(exc)},
                                status_code=503, headers=NO_STORE)
        return JSONResponse({"health": get_ledger_health_row(institution),
                             "activity": get_daily_activity_rows(institution)},
                            headers=NO_STORE)

    @router.get(LEDGER_HEALTH_PATH)
    async def ledger_health(request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            answer, request.headers.get("authorization"))
        return response

    return router
