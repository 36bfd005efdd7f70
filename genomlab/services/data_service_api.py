"""The data service (Datendienst) as an HTTP service: feasibility queries for people.

- ``POST /api/feasibility``: a GA4GH Beacon v2 request body
  (:func:`genomlab.data_service.beacon.make_request`); the answer is the Beacon v2 response
  :func:`genomlab.data_service.feasibility.run_feasibility_query` gives, suppressed, audited
  against differencing and recorded (``feasibility.answered``).
- ``GET /healthz``: readiness.

**The service owns its rules.** The disclosure threshold, the zero rule and the query budget
are the *service process's* configuration (its ``genomlab.toml`` and ``GENOMLAB_*``
environment), never the caller's: a caller's ``GENOMLAB_DISCLOSURE__MIN_CELL_COUNT=1`` changes
nothing here. A configuration below the platform minimum
(:data:`genomlab.data_service.suppression.PLATFORM_MIN_CELL_COUNT`) is refused at start-up:
the service does not start.

**The requester is the verified person.** Every request carries a person's bearer token,
checked by :class:`genomlab.services.person_check.PersonCheck` (audience
``urn:genomlab:data_service``; the platform asked with the data service's own client,
``data_service/platform-client.json``; its positive answer about the same token reused for
at most ``services.person_status_ttl_seconds``, default 2 s); the differencing audit, the
query budget and the ledger's actor key on the token's ``sub``. A ``user`` in the body, a
header or the query string is ignored, so switching names does not start a fresh history.

401 for a missing, invalid, expired or no longer backed token (a withdrawn person, a revoked
credential); 403 when the budget is used up; 400 for a malformed Beacon request; 404 if the
service has no feasibility index yet; 503 if the platform cannot be asked (never assumed).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.config import GenomlabConfig
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.store import open_data_service_ledger
from genomlab.data_service.suppression import check_service_disclosure
from genomlab.errors import ConflictError, GenomlabError, NotFoundError, ValidationFailed
from genomlab.services.beacon_api import create_beacon_router
from genomlab.services.htsget_api import create_service_htsget_router
from genomlab.services.oauth_http import OAuthError
from genomlab.services.person_check import (
    DATA_SERVICE_AUDIENCE,
    PersonCheck,
    ServiceUnavailable,
    get_verified_person,
)

FEASIBILITY_PATH = "/api/feasibility"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_BY_ERROR: tuple[tuple[type[GenomlabError], int], ...] = (
    (ServiceUnavailable, 503),
    (ValidationFailed, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
)
CONFIG_SOURCE = "data service configuration (its genomlab.toml and GENOMLAB_* environment)"


def _error_response(exc: GenomlabError) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 403)
    return JSONResponse(
        {"error": "refused", "error_description": str(exc)}, status_code=status, headers=NO_STORE
    )


def _oauth_response(error: OAuthError) -> JSONResponse:
    return JSONResponse(
        error.body(), status_code=error.status, headers={**NO_STORE, **error.headers}
    )


def create_data_service_app(
    config: GenomlabConfig, *, people: PersonCheck | None = None
) -> FastAPI:
    """The data service's ASGI app over ``config``'s data-service store, with ``config``'s
    disclosure rules (refused below the platform minimum: :class:`ValidationFailed`)."""
    check_service_disclosure(config.disclosure, source=CONFIG_SOURCE)
    people = people or PersonCheck.for_service(
        config,
        "data_service",
        DATA_SERVICE_AUDIENCE,
        ttl=config.services.person_status_ttl_seconds,  # the service's own, at most 2 s
    )
    open_data_service_ledger(config)  # the process owns the store: made (migrated) at start
    app = FastAPI(
        title="genomlab data service (Datendienst)", docs_url=None, redoc_url=None, openapi_url=None
    )

    def answer(user: str, body: Any) -> JSONResponse:
        if not isinstance(body, dict):
            return _error_response(
                ValidationFailed("request: body is not a JSON object (a Beacon v2 request)")
            )
        try:
            return JSONResponse(run_feasibility_query(config, body, user=user), headers=NO_STORE)
        except GenomlabError as exc:
            return _error_response(exc)

    def verified_answer(request: Request, body: Any) -> JSONResponse:
        """The person check (a call to the platform) and the answer, in a worker thread."""
        try:
            user = get_verified_person(request, people)
        except OAuthError as error:
            return _oauth_response(error)
        except ServiceUnavailable as exc:
            return _error_response(exc)
        return answer(user, body)

    app.include_router(create_beacon_router(config, people))  # GA4GH Beacon v2 (beacon_api)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "data_service"}

    @app.post(FEASIBILITY_PATH)
    async def feasibility(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None  # refused after the person check, so a stranger learns nothing
        response: JSONResponse = await run_in_threadpool(verified_answer, request, body)
        return response

    app.include_router(create_service_htsget_router(config, people.platform))
    return app
