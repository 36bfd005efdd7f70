"""The trust centre (Vertrauensstelle) as an HTTP service: pseudonyms for nodes, linkage maps.

Every request carries a bearer token the platform issued (:mod:`genomlab.platform.access_tokens`,
``aud`` = ``urn:genomlab:trust_center``). The trust centre checks it with the platform's public
``oauth`` key and then asks the platform's status endpoint (its own client, scope
``status:read``) whether the calling node is approved now, by the decision the token names, and
its client still active; so a suspended node's token stops working at once, without anyone
telling the trust centre. The actor of every event is the verified client id.

- ``POST /api/case-numbers/exchange`` ``{case_number, domain}`` → ``{pseudonym}``; scope
  ``pseudonyms:request``. The node is the token's: a GRZ gets genome-dataset pseudonyms only,
  a KDK clinical ones (403 otherwise).
- ``POST /api/case-numbers/confirm`` ``{case_number, pseudonym}``; same scope.
- ``POST /api/linkage-maps`` ``{approval, genome_pseudonyms, clinical_pseudonyms}`` → the map
  (:meth:`~genomlab.trust_center.service.LinkageMap.to_json_dict`); scope ``linkage:request``,
  data-service clients only. The approval must verify with the platform's approval key, be
  the platform's *current* approval of its application (digest from the status endpoint: a
  superseded or forged one is refused) and still ``approved`` there (a revocation is seen at
  the next request); the map holds only the consented persons the approval's criteria select,
  judged on the nodes' dataset attributes (:func:`genomlab.cohort.make_cohort_filter`, the
  rule the in-process trust centre applies too). Refusals are recorded as
  ``linkage_map.refused`` and answered 403.
- ``GET /healthz``.

401 for a missing, invalid, expired or no longer backed token; 403 for a missing scope or a
refused request; 503 if the platform cannot be asked (the trust centre then refuses, it never
assumes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from genomlab.clients.oauth import (
    InvalidCredentials,
    ServiceUnavailable,
    get_credentials_path,
    load_client_credentials,
)
from genomlab.clients.platform import PlatformStatusClient, watch_platform_token_key
from genomlab.cohort import CohortFilter, make_cohort_filter
from genomlab.config import GenomlabConfig
from genomlab.errors import (
    ConflictError,
    GenomlabError,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)
from genomlab.institution import Institution
from genomlab.messages import SignedDocument
from genomlab.platform.access_tokens import (
    TRUST_CENTER_AUDIENCE,
    InsufficientScope,
    InvalidToken,
    check_scope,
    decode_access_token,
)
from genomlab.services.oauth_http import (
    OAuthError,
    bearer_error,
    get_bearer_token,
    get_current_key,
)
from genomlab.trust_center.service import TrustCenter

PSEUDONYM_SCOPE = "pseudonyms:request"
LINKAGE_SCOPE = "linkage:request"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_BY_ERROR: tuple[tuple[type[GenomlabError], int], ...] = (
    (ServiceUnavailable, 503), (ValidationFailed, 400), (NotFoundError, 404),
    (ConflictError, 409), (PermissionDenied, 403))


def _error_response(exc: GenomlabError) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 400)
    return JSONResponse({"error": "refused", "error_description": str(exc)},
                        status_code=status, headers=NO_STORE)


def _oauth_response(error: OAuthError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status,
                        headers={**NO_STORE, **error.headers})


class CallerCheck:
    """Who is calling: the token checked with the platform's key, then the platform's records.

    ``public_key`` is the key or, in a service, a
    :class:`~genomlab.trusted_keys.TrustedKeyFile` (a rotation is taken up without a restart).
    """

    def __init__(self, public_key: Any, platform: PlatformStatusClient, *,
                 audience: str = TRUST_CENTER_AUDIENCE, service: str = "trust centre") -> None:
        self.public_key = public_key
        self.platform = platform
        self.audience = audience
        self.service = service

    def verify(self, authorization: str | None, scope: str) -> dict[str, Any]:
        """The token's claims if its node and client may act now with ``scope``; else raise
        :class:`OAuthError` (401/403) or :class:`ServiceUnavailable` (platform unreachable)."""
        token = get_bearer_token(authorization)
        try:
            claims = decode_access_token(token, get_current_key(self.public_key, token),
                                         audience=self.audience)
            node = self._node_status(claims)
            if node["status"] != "approved":
                raise InvalidToken(f"access token: node {claims['node_id']} is "
                                   f"{node['status']}, not approved")
            if claims["client_id"] not in node["active_clients"]:
                raise InvalidToken(f"access token: client {claims['client_id']} is not an "
                                   "active client of the platform")
            if node["approved_at"] != claims["node_approved_at"]:
                raise InvalidToken(f"access token: issued before node {claims['node_id']}'s "
                                   "current approval")
            check_scope(claims, scope)
        except InvalidToken as exc:
            raise bearer_error(401, "invalid_token", str(exc)) from exc
        except InsufficientScope as exc:
            raise bearer_error(403, "insufficient_scope", str(exc)) from exc
        return {**claims, "node_kind": node["kind"]}

    def _node_status(self, claims: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.platform.get_node_status(str(claims["node_id"]))
        except NotFoundError as exc:
            raise InvalidToken(f"access token: {exc}") from exc
        except InvalidCredentials as exc:
            raise ServiceUnavailable(f"{self.service} cannot ask the platform: {exc}") from exc


def _field(body: Any, name: str, kind: type) -> Any:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, kind):
        raise ValidationFailed(f"request: field {name}: missing or not {kind.__name__}")
    return value


def _pseudonym_list(body: dict[str, Any], name: str) -> list[str]:
    values = body.get(name, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValidationFailed(f"request: field {name}: expected a list of pseudonyms")
    return values


class LinkageDesk:
    """The linkage-map request of a data service: the map, for which the trust centre asks the
    platform's word on the approval (``TrustCenter(approval_status=<platform client>)``)."""

    def __init__(self, tc: TrustCenter, platform: PlatformStatusClient) -> None:
        self.tc = tc
        self.platform = platform

    def issue(self, claims: dict[str, Any], body: Any) -> dict[str, Any]:
        """The map for a verified data-service caller; GenomlabError for every refusal."""
        actor = str(claims["client_id"])
        if claims["node_kind"] != "data_service":
            raise PermissionDenied(f"node {claims['node_id']} is not a data service: only the "
                                   "data service receives linkage maps")
        try:
            approval = SignedDocument.model_validate(_field(body, "approval", dict))
        except ValidationError as exc:
            raise ValidationFailed("request: field approval: not a signed document") from exc
        genome = _pseudonym_list(body, "genome_pseudonyms")
        clinical = _pseudonym_list(body, "clinical_pseudonyms")
        linkage = self.tc.issue_linkage_map(approval, actor=actor, genome_pseudonyms=genome,
                                            clinical_pseudonyms=clinical)
        return linkage.to_json_dict()


def create_trust_center_app(config: GenomlabConfig, *,
                            platform: PlatformStatusClient | None = None,
                            cohort: CohortFilter | None = None) -> FastAPI:
    """The trust centre's ASGI app over ``config``'s trust-centre store and keys.

    ``platform`` defaults to the trust centre's own platform client (credentials in
    ``trust_center/platform-client.json``), ``cohort`` to :func:`make_cohort_filter`.
    """
    credentials = load_client_credentials(
        get_credentials_path(Institution(config, "trust_center").directory))
    if platform is None:
        platform = PlatformStatusClient(config, credentials)
    # opened once: the process owns the trust centre's store; node approval is asked of the
    # platform service (a separated trust centre cannot read the platform's store)
    tc = TrustCenter(config, node_status=platform, approval_status=platform,
                     cohort=cohort or make_cohort_filter(config, credentials))
    callers = CallerCheck(watch_platform_token_key(
        config, trusted_by=Institution(config, "trust_center")), platform)
    desk = LinkageDesk(tc, platform)
    app = FastAPI(title="genomlab trust centre (Vertrauensstelle)", docs_url=None,
                  redoc_url=None, openapi_url=None)

    def serve(authorization: str | None, scope: str, body: Any,
              act: Callable[[dict[str, Any], Any], dict[str, Any]]) -> JSONResponse:
        """Check the caller, then act; one worker-thread hop (the blocking part)."""
        try:
            claims = callers.verify(authorization, scope)
        except OAuthError as error:
            return _oauth_response(error)
        except ServiceUnavailable as exc:
            return _error_response(exc)
        try:
            return JSONResponse(act(claims, body), headers=NO_STORE)
        except GenomlabError as exc:
            return _error_response(exc)

    def exchange(claims: dict[str, Any], body: Any) -> dict[str, Any]:
        domain = _field(body, "domain", str)
        if domain not in ("genomic", "clinical"):
            raise ValidationFailed("request: field domain: expected genomic or clinical")
        pseudonym = tc.exchange_case_number_as(str(claims["client_id"]),
                                               _field(body, "case_number", str),
                                               node_id=str(claims["node_id"]), domain=domain)
        return {"pseudonym": pseudonym}

    def confirm(claims: dict[str, Any], body: Any) -> dict[str, Any]:
        tc.confirm_delivery_as(str(claims["client_id"]), _field(body, "case_number", str),
                               node_id=str(claims["node_id"]),
                               pseudonym=_field(body, "pseudonym", str))
        return {"status": "confirmed"}

    async def handle(request: Request, scope: str,
                     act: Callable[[dict[str, Any], Any], dict[str, Any]]) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None  # refused after the token check, so a stranger learns nothing
        response: JSONResponse = await run_in_threadpool(
            serve, request.headers.get("authorization"), scope, body, act)
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "trust_center"}

    @app.post("/api/case-numbers/exchange")
    async def exchange_route(request: Request) -> JSONResponse:
        return await handle(request, PSEUDONYM_SCOPE, exchange)

    @app.post("/api/case-numbers/confirm")
    async def confirm_route(request: Request) -> JSONResponse:
        return await handle(request, PSEUDONYM_SCOPE, confirm)

    @app.post("/api/linkage-maps")
    async def linkage_route(request: Request) -> JSONResponse:
        return await handle(request, LINKAGE_SCOPE, desk.issue)

    return app
