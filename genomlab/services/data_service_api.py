"""The data service (Datendienst) as an HTTP service: feasibility queries for people.

- ``POST /api/feasibility``: a GA4GH Beacon v2 request body
  (:func:`genomlab.data_service.beacon.make_request`); the answer is the Beacon v2 response
  :func:`genomlab.data_service.feasibility.run_feasibility_query` gives, suppressed, audited
  against differencing and recorded (``feasibility.answered``).
  With an ``Idempotency-Key`` header, a retry of the request with the same key (after the
  connection dropped, e.g. the service was killed after recording the answer) is answered
  again, recorded once and counted once against the budget.
- ``POST /api/index/rebuild``: the **data service's operator** has the service rebuild its
  feasibility index (:func:`genomlab.data_service.index.build_feasibility_index`) from the
  running node services, asked with the data service's own platform client (scope
  ``datasets:attributes``): every KDK's and GRZ's consented datasets' attributes and each GRZ's
  allele sites. ``Authorization: Bearer <operator secret>`` from
  ``<data_service>/operator-credential.json`` (0600, made at the service's first start; a
  person's or a node's token is no operator credential). So the index is written by this
  process only, as the store's other writes. 401 without the operator secret; 503 if a node
  service cannot be asked (the old index stays).
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

**Or a visa.** A GA4GH Passport ``ControlledAccessGrants`` visa of the platform for a tagged
dataset of the data category the query reads (clinical filters: ``clinical``; genome filters
and variants: ``genomic``) is accepted instead of the person token
(:class:`genomlab.services.visa_check.VisaCheck`, the check htsget makes: the platform's JWKS,
expiry, the approval asked of the platform now); the visa's ``sub`` is then the requester the
audit, the budget and the ledger key on.

401 for a missing, invalid, expired or no longer backed token or visa (a withdrawn person, a
revoked credential or approval); 403 for a visa of another dataset or when the budget is used
up; 400 for a malformed Beacon request; 404 if the
service has no feasibility index yet; 503 if the platform cannot be asked (never assumed).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.clients.data_service import INDEX_PATH
from genomlab.clients.nodes import (
    ATTRIBUTES_SCOPE,
    check_operator_secret,
    ensure_operator_credential,
    get_node_service_readers,
)
from genomlab.clients.oauth import BearerTokens, get_credentials_path, load_client_credentials
from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon import parse_request
from genomlab.data_service.feasibility import choose_side, run_feasibility_query
from genomlab.data_service.index import build_feasibility_index, load_feasibility_index
from genomlab.data_service.store import open_data_service_ledger
from genomlab.data_service.suppression import check_service_disclosure
from genomlab.errors import ConflictError, GenomlabError, NotFoundError, ValidationFailed
from genomlab.institution import Institution
from genomlab.services.beacon_api import caller_refusal, create_beacon_router
from genomlab.services.htsget_api import create_service_htsget_router
from genomlab.services.ledger_health_api import create_ledger_health_router
from genomlab.services.oauth_http import OAuthError, bearer_error, get_bearer_token
from genomlab.services.person_check import (
    DATA_SERVICE_AUDIENCE,
    PersonCheck,
    ServiceUnavailable,
    get_verified_person,
)
from genomlab.services.visa_check import VisaCheck, is_visa

FEASIBILITY_PATH = "/api/feasibility"
IDEMPOTENCY_KEY = "Idempotency-Key"
"""The client's key for one request: its retry (same key, same person) records nothing again."""
MAX_KEY_LENGTH = 200
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


def _query_side(body: Any) -> str | None:
    """The side of the index that answers a feasibility request; ``None`` if none can."""
    try:
        return choose_side(parse_request(body)) if isinstance(body, dict) else None
    except (GenomlabError, KeyError, TypeError, ValueError, AttributeError):
        return None


def create_data_service_app(
    config: GenomlabConfig,
    *,
    people: PersonCheck | None = None,
    visas: VisaCheck | None = None,
) -> FastAPI:
    """The data service's ASGI app over ``config``'s data-service store, with ``config``'s
    disclosure rules (refused below the platform minimum: :class:`ValidationFailed`);
    ``people`` and ``visas`` check who asks (default: with the service's own platform client)."""
    check_service_disclosure(config.disclosure, source=CONFIG_SOURCE)
    people = people or PersonCheck.for_service(
        config,
        "data_service",
        DATA_SERVICE_AUDIENCE,
        ttl=config.services.person_status_ttl_seconds,  # the service's own, at most 2 s
    )
    visas = visas or VisaCheck.for_service(config, people.platform)
    open_data_service_ledger(config)  # the process owns the store: made (migrated) at start
    folder = Institution(config, "data_service").directory
    operator = hashlib.sha256(ensure_operator_credential(folder).encode()).digest()
    app = FastAPI(
        title="genomlab data service (Datendienst)", docs_url=None, redoc_url=None, openapi_url=None
    )

    def answer(user: str, body: Any, request_key: str | None) -> JSONResponse:
        if not isinstance(body, dict):
            return _error_response(
                ValidationFailed("request: body is not a JSON object (a Beacon v2 request)")
            )
        if request_key is not None and not (0 < len(request_key) <= MAX_KEY_LENGTH):
            return _error_response(
                ValidationFailed(f"request: header {IDEMPOTENCY_KEY}: 1 to {MAX_KEY_LENGTH} "
                                 "characters")
            )
        try:
            answer = run_feasibility_query(config, body, user=user, request_key=request_key)
            return JSONResponse(answer, headers=NO_STORE)
        except GenomlabError as exc:
            return _error_response(exc)

    def verified_answer(request: Request, body: Any) -> JSONResponse:
        """The person or visa check (a call to the platform) and the answer, in a worker
        thread; a visa must be for the data the query reads."""
        authorization = request.headers.get("authorization")
        try:
            if is_visa(authorization):
                user = visas.verify_for_index(authorization, _query_side(body)).user_id
            else:
                user = get_verified_person(request, people)
        except OAuthError as error:
            return _oauth_response(error)
        except GenomlabError as exc:  # InvalidVisa 401, WrongDataset 403, unavailable 503
            status, headers = caller_refusal(exc) or (503, {})
            return JSONResponse(
                {
                    "error": "invalid_token" if status == 401 else "refused",
                    "error_description": str(exc),
                },
                status_code=status,
                headers={**NO_STORE, **headers},
            )
        return answer(user, body, request.headers.get(IDEMPOTENCY_KEY))

    def rebuild_index(authorization: str | None) -> JSONResponse:
        """The operator's index rebuild from the running node services (a worker thread)."""
        try:
            if not check_operator_secret(get_bearer_token(authorization), operator):
                raise bearer_error(401, "invalid_token",
                                   "not the operator credential of the data service")
        except OAuthError as error:
            return _oauth_response(error)
        try:
            own = load_client_credentials(get_credentials_path(folder))
            genome, clinical = get_node_service_readers(
                config, BearerTokens(config, own, ATTRIBUTES_SCOPE))
            digest = build_feasibility_index(config, genome, clinical)
            index = load_feasibility_index(config)
        except GenomlabError as exc:
            return _error_response(exc)
        return JSONResponse({
            "digest": digest, "nodes": [n.node_id for n in (*genome, *clinical)],
            "n_genome_datasets": index.genome.height,
            "n_clinical_datasets": index.clinical.height, "n_sites": index.sites.height},
            headers=NO_STORE)

    app.include_router(create_beacon_router(config, people, visas))  # GA4GH Beacon v2

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

    @app.post(INDEX_PATH)
    async def index(request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            rebuild_index, request.headers.get("authorization"))
        return response

    app.include_router(create_service_htsget_router(config, visas))
    app.include_router(create_ledger_health_router(  # the dashboards' monitoring
        Institution(config, "data_service"), people.verify))
    return app
