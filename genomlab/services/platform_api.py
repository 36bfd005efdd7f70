"""The platform (BfArM) as an HTTP service: OAuth token endpoint and Prüfbericht upload.

Shaped like BfArM's real interface, which the official ``grzctl pruefbericht submit`` calls:

- ``POST /oauth2/token``: form-encoded ``grant_type=client_credentials``; the client
  authenticates by HTTP Basic or by ``client_id``/``client_secret`` form fields (RFC 6749
  §4.4). Answer: ``{"access_token", "token_type": "Bearer", "expires_in", "scope"}``.
- ``POST /api/pruefbericht/upload`` (``api_base_url`` = ``…/api/pruefbericht``): the
  Prüfbericht JSON with ``Authorization: bearer <token>``; 200 with the signed
  Meldebestätigung, 401 for a missing, expired or no longer backed token (a suspended or
  revoked node, a revoked client), 403 for a token without scope ``pruefbericht:upload``, 400
  or 409 for a refused report (recorded as ``pruefbericht.refused`` as on the CLI path).
- ``GET /api/nodes/{node_id}/status`` and ``GET /api/approvals/{application_id}/status``: what
  another service asks before it acts (the trust centre, at every request it serves): a node's
  status, last decision and active clients; an approval's status and the digest of the current
  signed approval. Bearer token with scope ``status:read`` (401/403 as above), 404 if unknown.
- ``GET /api/people/{user_id}/status``: a platform user's standing (``active``, ``roles``,
  ``active_credentials``), what a service that serves people re-checks at every request
  (:func:`genomlab.platform.access_tokens.verify_person_token`); scope ``status:read``.
- People's workflow (``genomlab.platform.person_actions.ACTIONS``): ``POST /api/applications``,
  ``POST /api/applications/{id}/submit|close|edit|results|assign|return|request-committee|
  votes|comments|request-decision|dataset-decisions|approve|reject|revoke``, ``POST
  /api/users``, ``POST /api/users/{user}/roles[/withdraw]``, ``POST /api/datasets``; ``GET
  /api/me``. A person's bearer token (scope ``person``); the actor is always the token's
  verified subject, never a name in the body, a query, a header or the service's environment.
  401 for a missing or invalid token, 403 for the workflow's refusals (role, conflict of
  interest, self-approval), 409 for the wrong state, 400 for a bad body; a refusal writes
  nothing.
- What the approvals dashboard reads (a person's token, scope ``person``): ``GET /api/queue``
  (``status`` comma-separated, ``purpose``, ``handler``, ``applicant``, ``search``, ``offset``,
  ``limit`` up to 500; the queue page as :func:`~genomlab.platform.applications.queries.
  get_queue_page` reads it), ``GET /api/applications/{id}`` (the
  :class:`~genomlab.platform.applications.queries.ApplicationDetail`), ``…/actions`` (what the
  caller may do on it), ``…/earlier-projects`` (the applicant's other applications with their
  results) and ``…/attachments/{sha256}`` (a case-file document, base64). Who may read what is
  decided by :func:`~genomlab.platform.applications.queries.check_queue_access` and
  :func:`~genomlab.platform.applications.queries.check_application_access` for the token's
  subject and their roles now: handlers, committee members, deciders and admins read every
  application; anyone else only their own queue (``applicant`` = themselves) and the
  applications they applied for or are on the team of; else 403. ``GET /api/me/projects``
  (``at`` optional, ISO): the caller's active entitlements with their team and DUO codes
  (:func:`~genomlab.platform.applications.queries.get_member_projects`), what a researcher's
  notebook opens with when their account cannot read the platform's store.
- ``GET /api/monitoring``: the platform dashboard's frames
  (:func:`~genomlab.platform.quarterly.compute_monitoring_frames`, each ``{"schema", "rows"}``:
  :func:`~genomlab.ledger_health.frame_to_json`) and ``GET /api/ledger-health`` (this
  service's own ledger, :mod:`genomlab.services.ledger_health_api`), for platform staff only
  (:data:`~genomlab.platform.applications.queries.MONITORING_ROLES`; else 403).
- The token endpoint also serves people: a person client (id ``person-…``, issued by
  ``genomlab platform users issue-credential``) gets a token whose ``sub`` is the user id.
- ``GET /api/projects/{id}/members/{user}``, ``GET /api/projects/{id}/team`` (scope
  ``projects:read``) and ``POST /api/projects/{id}/results`` (scope ``register:write``): the
  airlock's questions and releases (:mod:`genomlab.services.platform_projects_api`).
- ``GET /healthz``: readiness.

The ledger's actor of an upload is the verified client id, never a name the caller sends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.config import GenomlabConfig
from genomlab.errors import (
    ConflictError,
    GenomlabError,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)
from genomlab.institution import Institution
from genomlab.ledger_health import frame_to_json
from genomlab.platform.access_tokens import (
    TOKEN_KEY,
    AccessTokenAuthority,
    InsufficientScope,
    InvalidToken,
)
from genomlab.platform.applications.entitlements import get_approval_status
from genomlab.platform.applications.models import OPEN_STATUSES, Role
from genomlab.platform.applications.queries import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ApplicationDetail,
    check_application_access,
    check_monitoring_access,
    check_queue_access,
    detail_to_json,
    get_allowed_actions,
    get_application_detail,
    get_earlier_projects,
    get_member_projects,
    get_queue_page,
    queue_page_to_json,
)
from genomlab.platform.applications.workflow import Workflow, get_attachment_path
from genomlab.platform.confirmations import receive_pruefbericht
from genomlab.platform.oauth_clients import (
    ClientIdentity,
    InvalidClient,
    authenticate_client,
    get_node_status,
)
from genomlab.platform.person_actions import ACTIONS, Action, run_person_action
from genomlab.platform.person_credentials import (
    PERSON_CLIENT_PREFIX,
    authenticate_person,
    get_person_status,
)
from genomlab.platform.quarterly import compute_monitoring_frames
from genomlab.platform.store import open_platform_ledger
from genomlab.services.ledger_health_api import create_ledger_health_router
from genomlab.services.oauth_http import (
    OAuthError,
    bearer_error,
    get_bearer_token,
    parse_token_request,
)
from genomlab.services.register_web import register_router
from genomlab.services.runner import get_published_token_key_path, publish_service_file
from genomlab.services.visas_api import create_visas_router

TOKEN_PATH = "/oauth2/token"
PRUEFBERICHT_BASE_PATH = "/api/pruefbericht"
UPLOAD_SCOPE = "pruefbericht:upload"
STATUS_SCOPE = "status:read"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_BY_ERROR: dict[type[GenomlabError], int] = {
    ValidationFailed: 400, NotFoundError: 404, ConflictError: 409}


def _oauth_response(error: OAuthError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status,
                        headers={**NO_STORE, **error.headers})


def _error_status(exc: GenomlabError) -> int:
    return next((status for kind, status in STATUS_BY_ERROR.items() if isinstance(exc, kind)),
                403)


def create_platform_app(config: GenomlabConfig) -> FastAPI:
    """The platform's ASGI app over ``config``'s platform store and keys."""
    authority = AccessTokenAuthority(config)
    publish_service_file(get_published_token_key_path(config),
                         Institution(config, "platform").keys().public_key_path(
                             TOKEN_KEY).read_bytes())
    ledger = open_platform_ledger(config)  # opened once: the process owns the platform store
    app = FastAPI(title="genomlab platform (BfArM)", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.include_router(register_router(config))  # the public register, no sign-in

    async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(function, *args, **kwargs)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "platform"}

    @app.post(TOKEN_PATH)
    async def token(request: Request) -> JSONResponse:
        try:
            asked = parse_token_request(request.headers.get("content-type"),
                                        await request.body(),
                                        request.headers.get("authorization"))
            try:
                if asked.client_id.startswith(PERSON_CLIENT_PREFIX):
                    person = await in_thread(authenticate_person, config, asked.client_id,
                                             asked.client_secret)
                    grant = authority.issue_person(person, asked.scope)
                else:
                    client = await in_thread(authenticate_client, config, asked.client_id,
                                             asked.client_secret)
                    grant = authority.issue(client, asked.scope)
            except InvalidClient as exc:
                basic = "authorization" in request.headers
                headers = {"WWW-Authenticate": 'Basic realm="genomlab"'} if basic else {}
                raise OAuthError(401, "invalid_client", str(exc), headers) from exc
            except InsufficientScope as exc:
                raise OAuthError(400, "invalid_scope", str(exc)) from exc
        except OAuthError as error:
            return _oauth_response(error)
        return JSONResponse(grant, headers=NO_STORE)

    def token_refusal(exc: InvalidToken | InsufficientScope) -> OAuthError:
        """A bearer token's refusal as its RFC 6750 answer: 401 invalid, 403 scope missing."""
        if isinstance(exc, InsufficientScope):
            return bearer_error(403, "insufficient_scope", str(exc))
        return bearer_error(401, "invalid_token", str(exc))

    def verify_bearer(bearer: str, scope: str) -> ClientIdentity:
        """The client behind ``bearer`` if it may act now with ``scope``; else OAuthError."""
        try:
            return authority.verify(bearer, scope=scope)
        except (InvalidToken, InsufficientScope) as exc:
            raise token_refusal(exc) from exc

    def verified_upload(bearer: str, report: Any) -> JSONResponse:
        """Token check and Prüfbericht in one worker-thread hop (the blocking part).

        The token's signature and claims first; then, in the upload's own write transaction,
        the platform's records (client active, node approved by the same decision) before the
        report is looked at: one store transaction per upload, and no suspension can slip in
        between the check and the write.
        """
        try:
            claims = authority.decode(bearer)
            if not isinstance(report, dict):
                verify_bearer(bearer, UPLOAD_SCOPE)  # a stranger learns nothing of the body
                return JSONResponse({"error": "invalid_request",
                                     "error_description": "body is not a JSON object"},
                                    status_code=400)
            document = receive_pruefbericht(
                config, str(claims["node_id"]), report, actor=str(claims["client_id"]),
                ledger=ledger,
                authorize=lambda conn: authority.check_records(conn, claims, scope=UPLOAD_SCOPE))
        except OAuthError as error:
            return _oauth_response(error)
        except (InvalidToken, InsufficientScope) as exc:
            return _oauth_response(token_refusal(exc))
        except GenomlabError as exc:
            return JSONResponse({"error": "refused", "error_description": str(exc)},
                                status_code=_error_status(exc))
        return JSONResponse(document.model_dump(mode="json"))

    @app.post(PRUEFBERICHT_BASE_PATH + "/upload")
    async def upload(request: Request) -> JSONResponse:
        try:
            bearer = get_bearer_token(request.headers.get("authorization"))
        except OAuthError as error:
            return _oauth_response(error)
        try:
            report = await request.json()
        except ValueError:
            report = None  # refused after the token check, so a stranger learns nothing
        response: JSONResponse = await in_thread(verified_upload, bearer, report)
        return response

    def verified_status(authorization: str | None, look_up: Callable[[], Any]) -> JSONResponse:
        try:
            verify_bearer(get_bearer_token(authorization), STATUS_SCOPE)
        except OAuthError as error:
            return _oauth_response(error)
        try:
            return JSONResponse(look_up(), headers=NO_STORE)
        except NotFoundError as exc:
            return JSONResponse({"error": "not_found", "error_description": str(exc)},
                                status_code=404, headers=NO_STORE)

    @app.get("/api/nodes/{node_id}/status")
    async def node_status(node_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(
            verified_status, request.headers.get("authorization"),
            lambda: get_node_status(config, node_id))
        return response

    @app.get("/api/approvals/{application_id}/status")
    async def approval_status(application_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(
            verified_status, request.headers.get("authorization"),
            lambda: get_approval_status(config, application_id))
        return response

    workflow = Workflow(config)

    def verify_person(authorization: str | None) -> Any:
        """The verified person of a request (token subject, platform records now)."""
        try:
            return authority.verify_person(get_bearer_token(authorization))
        except InvalidToken as exc:
            raise bearer_error(401, "invalid_token", str(exc)) from exc
        except InsufficientScope as exc:
            raise bearer_error(403, "insufficient_scope", str(exc)) from exc

    def person_action(action: Action, authorization: str | None, target: str | None,
                      body: Any) -> JSONResponse:
        """Token check, then the action as the token's subject; no name of the request counts."""
        try:
            person = verify_person(authorization)
        except OAuthError as error:
            return _oauth_response(error)
        if not isinstance(body, dict):
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "body is not a JSON object"},
                                status_code=400, headers=NO_STORE)
        try:
            result = run_person_action(workflow, person.user_id, action.name, target, body)
        except GenomlabError as exc:
            code = "forbidden" if isinstance(exc, PermissionDenied) else "refused"
            return JSONResponse({"error": code, "error_description": str(exc)},
                                status_code=_error_status(exc), headers=NO_STORE)
        return JSONResponse({**result, "actor": person.user_id}, headers=NO_STORE)

    def add_person_route(action: Action) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            target = request.path_params.get(action.target) if action.target else None
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = None  # refused after the token check, so a stranger learns nothing
            response: JSONResponse = await in_thread(
                person_action, action, request.headers.get("authorization"), target, body)
            return response

        app.add_api_route(action.path, endpoint, methods=[action.method],
                          name=action.name)

    for action in ACTIONS.values():
        add_person_route(action)

    def whoami(authorization: str | None) -> JSONResponse:
        try:
            person = verify_person(authorization)
        except OAuthError as error:
            return _oauth_response(error)
        return JSONResponse({"user_id": person.user_id, "client_id": person.client_id,
                             "roles": list(person.roles), "institution": person.institution},
                            headers=NO_STORE)

    @app.get("/api/me")
    async def me(request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(whoami, request.headers.get("authorization"))
        return response

    def read_as_person(authorization: str | None, look_up: Callable[[Any], Any]) -> JSONResponse:
        """Token check, then ``look_up(person)``: a read the verified subject may make (the
        permission functions of :mod:`genomlab.platform.applications.queries` decide)."""
        try:
            person = verify_person(authorization)
        except OAuthError as error:
            return _oauth_response(error)
        try:
            return JSONResponse(look_up(person), headers=NO_STORE)
        except GenomlabError as exc:
            code = "forbidden" if isinstance(exc, PermissionDenied) else "refused"
            return JSONResponse({"error": code, "error_description": str(exc)},
                                status_code=_error_status(exc), headers=NO_STORE)

    def person_roles(person: Any) -> frozenset[Role]:
        return frozenset(Role(r) for r in person.roles if r in Role._value2member_map_)

    def queue_page(person: Any, query: dict[str, str]) -> dict[str, Any]:
        applicant = query.get("applicant") or None
        check_queue_access(person.user_id, person_roles(person), applicant)
        statuses = tuple(s for s in query.get("status", "").split(",") if s) or tuple(
            str(s) for s in OPEN_STATUSES)
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", str(DEFAULT_PAGE_SIZE)))
        except ValueError as exc:
            raise ValidationFailed(f"queue: offset, limit: {exc}") from exc
        if offset < 0 or not 0 < limit <= MAX_PAGE_SIZE:
            raise ValidationFailed(f"queue: offset must be >= 0 and limit 1 to {MAX_PAGE_SIZE}")
        page = get_queue_page(config, statuses=statuses, purpose=query.get("purpose") or None,
                              handler=query.get("handler") or None, applicant=applicant,
                              search=query.get("search") or None, offset=offset, limit=limit)
        return queue_page_to_json(page)

    def readable_detail(person: Any, application_id: str) -> ApplicationDetail:
        detail = get_application_detail(config, application_id)
        check_application_access(person.user_id, person_roles(person), detail)
        return detail

    def member_projects(person: Any, query: dict[str, str]) -> dict[str, Any]:
        try:
            at = datetime.fromisoformat(query["at"]) if query.get("at") else None
        except ValueError as exc:
            raise ValidationFailed(f"projects: at: {exc}") from exc
        return {"projects": get_member_projects(config, person.user_id, at)}

    def monitoring(person: Any) -> dict[str, Any]:
        check_monitoring_access(person.user_id, person_roles(person), "monitoring")
        return {name: frame_to_json(frame)
                for name, frame in compute_monitoring_frames(config).items()}

    @app.get("/api/monitoring")
    async def monitoring_frames(request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"), monitoring)
        return response

    @app.get("/api/me/projects")
    async def my_projects(request: Request) -> JSONResponse:
        query = dict(request.query_params)
        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"),
            lambda person: member_projects(person, query))
        return response

    @app.get("/api/queue")
    async def queue(request: Request) -> JSONResponse:
        query = dict(request.query_params)
        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"),
            lambda person: queue_page(person, query))
        return response

    @app.get("/api/applications/{application_id}")
    async def application_detail(application_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"),
            lambda person: detail_to_json(readable_detail(person, application_id)))
        return response

    @app.get("/api/applications/{application_id}/actions")
    async def allowed_actions(application_id: str, request: Request) -> JSONResponse:
        def look_up(person: Any) -> dict[str, Any]:
            detail = readable_detail(person, application_id)
            return {"actions": get_allowed_actions(config, person.user_id, detail,
                                                   person_roles(person))}

        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"), look_up)
        return response

    @app.get("/api/applications/{application_id}/earlier-projects")
    async def earlier_projects(application_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"),
            lambda person: {"projects": get_earlier_projects(
                config, readable_detail(person, application_id))})
        return response

    @app.get("/api/applications/{application_id}/attachments/{sha256}")
    async def attachment(application_id: str, sha256: str, request: Request) -> JSONResponse:
        def look_up(person: Any) -> dict[str, Any]:
            detail = readable_detail(person, application_id)
            for h in detail.history:
                d = h["detail"]
                if h["type"] == "document_attached" and d["sha256"] == sha256:
                    path = get_attachment_path(config, application_id, sha256, d["name"])
                    if not path.is_file():
                        break
                    return {"name": d["name"], "sha256": sha256,
                            "content_base64": base64.b64encode(path.read_bytes()).decode()}
            raise NotFoundError(f"application {application_id}: no document {sha256}")

        response: JSONResponse = await in_thread(
            read_as_person, request.headers.get("authorization"), look_up)
        return response

    @app.get("/api/people/{user_id}/status")
    async def person_status(user_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await in_thread(
            verified_status, request.headers.get("authorization"),
            lambda: get_person_status(config, user_id))
        return response

    from genomlab.services.platform_projects_api import add_project_routes

    add_project_routes(app, config, authority)  # the airlock's questions about projects
    app.include_router(create_visas_router(config, authority))
    app.include_router(create_ledger_health_router(  # the dashboards' monitoring
        Institution(config, "platform"), verify_person))
    return app
