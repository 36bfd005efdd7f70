"""The platform's answers about projects for the airlock service (issue 15).

Routes added to the platform's app (:func:`add_project_routes`), each with the calling
service's own client token (``Authorization: Bearer``, a node client of kind ``airlock``):

- ``GET /api/projects/{project_id}/members/{user_id}`` (scope ``projects:read``) →
  ``{project_id, user_id, member}``: whether the (already verified) person is on the
  project's approved team with an active entitlement now;
- ``GET /api/projects/{project_id}/team`` (scope ``projects:read``) → ``{project_id, team}``;
- ``POST /api/projects/{project_id}/results`` ``{author, title, reference}`` (scope
  ``register:write``) → ``{project_id, application_id}``: an airlock release recorded as a
  result (kind ``report``) in the project's register entry. The platform checks that
  ``author`` is on the team (:meth:`~genomlab.platform.applications.workflow.Workflow.
  add_result`, idempotent); the ledger's actor is that author, whom the airlock verified when
  they asked for the release.

401 for a missing, invalid or no longer backed token, 403 for a token without the scope or a
refused result, 404 for an unknown project, 400 for a malformed body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError, GenomlabError, NotFoundError, ValidationFailed
from genomlab.platform.access_tokens import AccessTokenAuthority, InsufficientScope, InvalidToken
from genomlab.platform.applications import projection as platform_tables
from genomlab.platform.applications.entitlements import get_team, is_entitled
from genomlab.platform.applications.store import read_platform
from genomlab.platform.applications.workflow import Workflow
from genomlab.services.oauth_http import OAuthError, bearer_error, get_bearer_token

PROJECTS_PATH = "/api/projects"
PROJECTS_SCOPE = "projects:read"
REGISTER_SCOPE = "register:write"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_BY_ERROR: tuple[tuple[type[GenomlabError], int], ...] = (
    (ValidationFailed, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
)


def get_application_id(config: GenomlabConfig, project_id: str) -> str:
    """The application behind ``project_id``; :class:`NotFoundError` if none."""
    apps = platform_tables.applications
    with read_platform(config) as conn:
        application_id = conn.execute(
            select(apps.c.application_id).where(apps.c.project_id == project_id)
        ).scalar()
    if application_id is None:
        raise NotFoundError(f"project {project_id} not found")
    return str(application_id)


def _text(body: Any, name: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"result: field {name}: missing or not text")
    return value


def add_project_routes(
    app: FastAPI, config: GenomlabConfig, authority: AccessTokenAuthority
) -> None:
    """Add the project routes (see the module's description) to the platform's ``app``."""
    workflow = Workflow(config)

    def answer(
        authorization: str | None, scope: str, look_up: Callable[[], dict[str, Any]]
    ) -> JSONResponse:
        try:
            try:
                authority.verify(get_bearer_token(authorization), scope=scope)
            except InvalidToken as exc:
                raise bearer_error(401, "invalid_token", str(exc)) from exc
            except InsufficientScope as exc:
                raise bearer_error(403, "insufficient_scope", str(exc)) from exc
        except OAuthError as error:
            return JSONResponse(
                error.body(), status_code=error.status, headers={**NO_STORE, **error.headers}
            )
        try:
            return JSONResponse(look_up(), headers=NO_STORE)
        except GenomlabError as exc:
            status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 403)
            return JSONResponse(
                {"error": "refused", "error_description": str(exc)},
                status_code=status,
                headers=NO_STORE,
            )

    def member(project_id: str, user_id: str) -> dict[str, Any]:
        get_application_id(config, project_id)  # 404 for an unknown project
        return {
            "project_id": project_id,
            "user_id": user_id,
            "member": is_entitled(config, user_id, project_id),
        }

    def team(project_id: str) -> dict[str, Any]:
        return {"project_id": project_id, "team": list(get_team(config, project_id))}

    def result(project_id: str, body: Any) -> dict[str, Any]:
        application_id = get_application_id(config, project_id)
        workflow.add_result(
            _text(body, "author"),
            application_id,
            kind="report",
            title=_text(body, "title"),
            reference=_text(body, "reference"),
        )
        return {"project_id": project_id, "application_id": application_id}

    @app.get(PROJECTS_PATH + "/{project_id}/members/{user_id}")
    async def project_member(project_id: str, user_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            answer,
            request.headers.get("authorization"),
            PROJECTS_SCOPE,
            lambda: member(project_id, user_id),
        )
        return response

    @app.get(PROJECTS_PATH + "/{project_id}/team")
    async def project_team(project_id: str, request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            answer, request.headers.get("authorization"), PROJECTS_SCOPE, lambda: team(project_id)
        )
        return response

    @app.post(PROJECTS_PATH + "/{project_id}/results")
    async def project_result(project_id: str, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None  # refused after the token check
        response: JSONResponse = await run_in_threadpool(
            answer,
            request.headers.get("authorization"),
            REGISTER_SCOPE,
            lambda: result(project_id, body),
        )
        return response
