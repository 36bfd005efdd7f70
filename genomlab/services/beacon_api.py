"""The data service's GA4GH Beacon v2 API (an :class:`APIRouter` under :data:`BEACON_PREFIX`).

======================================  ======================================================
``GET /api/beacon/``, ``/info``         ``beaconInfoResponse``
``GET /api/beacon/map``                 ``beaconMapResponse``
``GET /api/beacon/configuration``       ``beaconConfigurationResponse``
``GET /api/beacon/entry_types``         ``beaconEntryTypesResponse``
``GET /api/beacon/filtering_terms``     ``beaconFilteringTermsResponse``
``GET|POST /api/beacon/individuals``    boolean / count (resultsets) response
``GET|POST /api/beacon/g_variants``     the same for one allele
======================================  ======================================================

Answers, thresholds and the audit are :mod:`genomlab.data_service.beacon_v2`'s. **Who asks** is
:func:`get_beacon_caller`, the one place a request becomes a caller: no ``Authorization``
header is the anonymous requester (booleans only); a person token is checked exactly as
``POST /api/feasibility`` checks it (:class:`~genomlab.services.person_check.PersonCheck`, at the
platform, every request) and its person may see counts; a GA4GH visa
(:class:`~genomlab.services.visa_check.VisaCheck`, as htsget checks it) for a tagged dataset of
the data category the query reads makes its subject the caller, who may see counts (the audit,
budget and ledger key on the visa's ``sub``). A token or visa that does not verify is 401
(never answered as anonymous), a visa for another dataset 403; the platform not answering is
503. Errors are
``beaconErrorResponse`` bodies (``errorCode`` = the HTTP status): 400 malformed or unanswerable
query, 401, 403 budget used up, 404 no feasibility index yet, 503.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon_v2 import (
    ANONYMOUS_CALLER,
    BeaconCaller,
    BeaconQuery,
    answer_beacon_query,
    beacon_query_side,
    build_configuration_response,
    build_entry_types_response,
    build_error_response,
    build_filtering_terms_response,
    build_info_response,
    build_map_response,
    parse_beacon_request,
    parse_query_string,
)
from genomlab.data_service.index import load_feasibility_index
from genomlab.errors import GenomlabError, NotFoundError, ValidationFailed
from genomlab.services.oauth_http import OAuthError
from genomlab.services.person_check import PersonCheck, ServiceUnavailable
from genomlab.services.visa_check import InvalidVisa, VisaCheck, WrongDataset, is_visa

BEACON_PREFIX = "/api/beacon"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_BY_ERROR: tuple[tuple[type[GenomlabError], int], ...] = (
    (ServiceUnavailable, 503),
    (ValidationFailed, 400),
    (NotFoundError, 404),
)
"""As ``POST /api/feasibility`` answers; any other refusal (the budget) is 403."""


def get_beacon_caller(
    request: Request,
    people: PersonCheck,
    visas: VisaCheck | None = None,
    *,
    side: str | None = None,
) -> BeaconCaller:
    """Who asks: anonymous without ``Authorization``; the holder of a visa for ``side``'s data
    (:meth:`VisaCheck.verify_for_index`) or the verified person (counts allowed).
    :class:`OAuthError` (401/403), :class:`InvalidVisa` (401), :class:`WrongDataset` (403) or
    :class:`ServiceUnavailable` (503) otherwise."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        return ANONYMOUS_CALLER
    if visas is not None and is_visa(authorization):
        return BeaconCaller(visas.verify_for_index(authorization, side).user_id, may_count=True)
    return BeaconCaller(people.verify(authorization).user_id, may_count=True)


def caller_refusal(exc: Exception) -> tuple[int, dict[str, str]] | None:
    """The HTTP status (and headers) of a refused caller check, ``None`` if ``exc`` is none;
    shared by the Beacon and ``POST /api/feasibility``."""
    if isinstance(exc, OAuthError):
        return exc.status, exc.headers
    if isinstance(exc, WrongDataset):
        return 403, {}
    if isinstance(exc, InvalidVisa):
        return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if isinstance(exc, ServiceUnavailable):
        return 503, {}
    return None


def _error(
    status: int, message: str, entry_type: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        build_error_response(status, message, entry_type),
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def _status(exc: GenomlabError) -> int:
    return next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 403)


def create_beacon_router(
    config: GenomlabConfig, people: PersonCheck, visas: VisaCheck | None = None
) -> APIRouter:
    """The Beacon routes over ``config``'s data-service store, checking people with ``people``
    and visas with ``visas`` (``None``: person tokens only)."""
    router = APIRouter(prefix=BEACON_PREFIX)

    def answer(request: Request, entry_type: str, body: Any) -> JSONResponse:
        """Parse, caller check, answer; in a worker thread (the check asks the platform). A
        malformed query is refused only after the caller check (a stranger learns nothing);
        the query is parsed first because a visa must be for the data it reads."""
        query: BeaconQuery | None = None
        side: str | None = None
        malformed: GenomlabError | None = None
        try:
            query = (
                parse_query_string(dict(request.query_params), entry_type)
                if body is None
                else parse_beacon_request(body, entry_type)
            )
            side = beacon_query_side(query)
        except GenomlabError as exc:
            malformed = exc
        try:
            caller = get_beacon_caller(request, people, visas, side=side)
        except (OAuthError, GenomlabError) as exc:  # GenomlabError: InvalidVisa, 503
            refusal = caller_refusal(exc)
            if refusal is None:
                raise
            return _error(refusal[0], str(exc), entry_type, refusal[1])
        if malformed is not None or query is None:
            refused = malformed or ValidationFailed("query: not parsed")
            return _error(_status(refused), str(refused), entry_type)
        try:
            return JSONResponse(answer_beacon_query(config, query, caller), headers=NO_STORE)
        except GenomlabError as exc:
            return _error(_status(exc), str(exc), entry_type)

    async def query_endpoint(request: Request, entry_type: str) -> JSONResponse:
        body: Any = None
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = "not JSON"  # refused by the parser, after the caller check
        response: JSONResponse = await run_in_threadpool(answer, request, entry_type, body)
        return response

    @router.api_route("/individuals", methods=["GET", "POST"])
    async def individuals(request: Request) -> JSONResponse:
        return await query_endpoint(request, "individuals")

    @router.api_route("/g_variants", methods=["GET", "POST"])
    async def g_variants(request: Request) -> JSONResponse:
        return await query_endpoint(request, "g_variants")

    @router.get("/")
    @router.get("/info")
    async def info() -> dict[str, Any]:
        return build_info_response(config)

    @router.get("/configuration")
    async def configuration() -> dict[str, Any]:
        return build_configuration_response()

    @router.get("/entry_types")
    async def entry_types() -> dict[str, Any]:
        return build_entry_types_response()

    @router.get("/map")
    async def beacon_map(request: Request) -> dict[str, Any]:
        return build_map_response(str(request.base_url) + BEACON_PREFIX.lstrip("/") + "/")

    @router.get("/filtering_terms")
    async def filtering_terms() -> JSONResponse:
        def build() -> dict[str, Any]:
            try:
                index = load_feasibility_index(config)
            except NotFoundError:
                index = None
            return build_filtering_terms_response(index, k=config.disclosure.min_cell_count)

        return JSONResponse(await run_in_threadpool(build), headers=NO_STORE)

    return router
