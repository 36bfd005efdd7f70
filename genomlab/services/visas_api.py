"""The platform's visa endpoints (GA4GH Passport v1.2), a router of the platform service.

- ``GET /.well-known/jwks.json``: the platform's signing keys (visa key and access-token key)
  as a JWKS; public, what any service or plain JWT library verifies visas with.
- ``GET /api/me/visas``: the verified person's own visas (person bearer token, as ``/api/me``):
  ``{"sub", "ga4gh_passport_v1": [visa JWT, …]}``, one per dataset of each approval the person
  holds now (:func:`genomlab.platform.visas.issue_visas`). 401 for a missing, forged, expired
  or no longer backed token; a name in a header, the query or the body counts for nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.config import GenomlabConfig
from genomlab.platform.access_tokens import AccessTokenAuthority, InsufficientScope, InvalidToken
from genomlab.platform.visas import JWKS_PATH, get_jwks, issue_visas
from genomlab.services.oauth_http import OAuthError, bearer_error, get_bearer_token

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def create_visas_router(config: GenomlabConfig, authority: AccessTokenAuthority) -> APIRouter:
    """The JWKS and the person's visas over ``config``'s platform store and keys."""
    router = APIRouter()
    jwks = get_jwks(config)  # keys are made once; the JWKS is the same for the process

    @router.get(JWKS_PATH)
    async def jwks_endpoint() -> JSONResponse:
        return JSONResponse(jwks, headers={"Cache-Control": "max-age=300"})

    def my_visas(authorization: str | None, jku: str) -> JSONResponse:
        try:
            try:
                person = authority.verify_person(get_bearer_token(authorization))
            except InvalidToken as exc:
                raise bearer_error(401, "invalid_token", str(exc)) from exc
            except InsufficientScope as exc:
                raise bearer_error(403, "insufficient_scope", str(exc)) from exc
        except OAuthError as error:
            return JSONResponse(
                error.body(), status_code=error.status, headers={**NO_STORE, **error.headers}
            )
        visas = issue_visas(config, person.user_id, jku=jku)
        return JSONResponse({"sub": person.user_id, "ga4gh_passport_v1": visas}, headers=NO_STORE)

    @router.get("/api/me/visas")
    async def me_visas(request: Request) -> JSONResponse:
        jku = str(request.base_url).rstrip("/") + JWKS_PATH
        response: JSONResponse = await run_in_threadpool(
            my_visas, request.headers.get("authorization"), jku
        )
        return response

    return router
