"""The airlock as an HTTP service: release requests, per-file reviews by two checkers, release.

- ``POST /api/requests`` ``{project, files, justification}`` → ``{request_id, status,
  check_status}``: the verified person asks to release output files of their project
  (:func:`genomlab.airlock.requests.submit_request`).
- ``POST /api/requests/{id}/reviews`` ``{decision, reason[, file]}`` → ``{request_id,
  status}``: an output checker decides on one file (``airlock.file.reviewed``,
  :func:`~genomlab.airlock.requests.record_file_review`) or on every file they have not decided
  yet (:func:`~genomlab.airlock.requests.record_review`).
- ``POST /api/requests/{id}/release`` → ``{request_id, files}``: copy out an approved request
  again after an interrupted release (idempotent).
- ``GET /api/requests/{id}`` → the request, its files and decisions, and ``caller``
  (``output_checker``, ``on_team``): for output checkers, the author and the members of the
  request's project's team.
- ``GET /api/requests/{id}/files/{name}`` → ``{name, content_base64}``: the file as checked
  (its snapshot), for the same people.
- ``GET /api/requests?status=a,b[&project=P]`` → ``{requests}`` (oldest first, with their
  review count): every project's for output checkers; anyone else only with ``project`` of a
  team they are on (else 403). What the airlock dashboard shows behind the hub, where the
  person's account cannot open the airlock's store.
- ``GET /healthz``.

**Two distinct verified checkers.** Who acts is the person of the bearer token, checked by
:class:`genomlab.services.person_check.PersonCheck` (audience ``urn:genomlab:airlock``; the
platform asked with the airlock's own client, ``airlock/platform-client.json``, at every
request), and the ledger's actor is that person: an
``author``, ``reviewer`` or ``user`` in the body, a header or the query string is ignored. A
second decision on a file by the checker who already decided it (under whatever name) is
refused 403 before anything is written, and so is a release of a request that lacks two
checkers' approvals of every file: one checker cannot release. What the person may do comes
from the platform: the roles as the platform service answers at each request
(:class:`PersonDirectory`), team membership and the register entry of a release from the
platform service too, asked with the airlock's own client
(:class:`genomlab.services.airlock_platform.ServiceDirectory`: ``projects:read``,
``register:write``); nothing of the platform's store is read in-process.

401 for a missing, invalid, expired or no longer backed token; 403 for a refused action; 404
unknown request or file; 409 a request no longer open; 400 malformed request; 503 if the
platform cannot be asked.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.airlock.directory import AirlockDirectory
from genomlab.airlock.events import Decision
from genomlab.airlock.requests import (
    REQUIRED_REVIEWS,
    get_queue,
    get_request_detail,
    get_snapshot_file,
    open_airlock_ledger,
    record_file_review,
    record_review,
    release_request,
    request_detail_to_json,
    submit_request,
)
from genomlab.config import GenomlabConfig
from genomlab.data_service.suppression import check_service_disclosure
from genomlab.errors import (
    ConflictError,
    GenomlabError,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)
from genomlab.platform.access_tokens import VerifiedPerson
from genomlab.platform.applications.models import Role
from genomlab.services.airlock_platform import ServiceDirectory
from genomlab.services.oauth_http import OAuthError
from genomlab.services.person_check import AIRLOCK_AUDIENCE, PersonCheck, ServiceUnavailable

REQUESTS_PATH = "/api/requests"
CONFIG_SOURCE = "airlock configuration (its genomlab.toml and GENOMLAB_* environment)"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_BY_ERROR: tuple[tuple[type[GenomlabError], int], ...] = (
    (ServiceUnavailable, 503),
    (ValidationFailed, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PermissionDenied, 403),
)


def _error_response(exc: GenomlabError) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 400)
    return JSONResponse(
        {"error": "refused", "error_description": str(exc)}, status_code=status, headers=NO_STORE
    )


def _oauth_response(error: OAuthError) -> JSONResponse:
    return JSONResponse(
        error.body(), status_code=error.status, headers={**NO_STORE, **error.headers}
    )


def _text(body: Any, name: str, *, required: bool = True) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"request: field {name}: missing or not text")
    return value


def _names(body: Any) -> list[str]:
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValidationFailed("request: field files: expected a list of file names")
    return files


class PersonDirectory:
    """The airlock's directory for one request: the verified person's roles as the platform
    service answered them at this request; team membership and the register entry from
    ``base`` (the platform service)."""

    def __init__(self, base: AirlockDirectory, person: VerifiedPerson) -> None:
        self.base = base
        self.person = person

    def is_team_member(self, user: str, project: str) -> bool:
        return self.base.is_team_member(user, project)

    def is_output_checker(self, user: str) -> bool:
        if user != self.person.user_id:
            raise PermissionDenied(f"directory: {user} is not the verified person")
        return Role.OUTPUT_CHECKER.value in self.person.roles

    def record_release(self, project: str, author: str, title: str, reference: str) -> str | None:
        return self.base.record_release(project, author, title, reference)


class AirlockDesk:
    """What the airlock does for a verified person; every refusal a :class:`GenomlabError`."""

    def __init__(self, config: GenomlabConfig, directory: AirlockDirectory) -> None:
        self.config = config
        self.base = directory

    def submit(self, verified: VerifiedPerson, body: Any) -> dict[str, Any]:
        person = verified.user_id
        request_id = submit_request(
            self.config,
            PersonDirectory(self.base, verified),
            person,
            _text(body, "project"),
            _names(body),
            justification=_text(body, "justification", required=False),
        )
        request = get_request_detail(self.config, request_id).request
        return {
            "request_id": request_id,
            "status": request["status"],
            "check_status": request["check_status"],
        }

    def _refuse_second_decision(self, person: str, request_id: str, file: str | None) -> None:
        """403 if ``person`` already decided the file (or every file): a second decision needs
        a second checker, whatever name the first one gives."""
        detail = get_request_detail(self.config, request_id)
        decided = {
            f["name"] for f in detail.files if any(d["reviewer"] == person for d in f["decisions"])
        }
        names = {f["name"] for f in detail.files}
        if (file in decided) or (file is None and names and decided >= names):
            raise PermissionDenied(
                f"review {request_id}: {person} has already decided "
                f"{file or 'every file'}; the second decision needs a second output checker"
            )

    def _is_repeated(self, person: str, request_id: str, file: str | None, decision: str) -> bool:
        """Whether this is the retry of a review that approved the request (its answer lost
        when the airlock died releasing it): ``person`` already made this very decision on the
        file (or on every file) and the request is approved or released. On an open request a
        checker's second decision stays refused (:meth:`_refuse_second_decision`)."""
        detail = get_request_detail(self.config, request_id)
        if detail.request["status"] not in ("approved", "released"):
            return False
        files = [f for f in detail.files if file is None or f["name"] == file]
        mine = [d["decision"] for f in files for d in f["decisions"] if d["reviewer"] == person]
        return bool(files) and len(mine) == len(files) and set(mine) == {decision}

    def _answer_again(
        self, directory: PersonDirectory, person: str, request_id: str
    ) -> dict[str, Any]:
        """A retried review records nothing again: the request's status, after finishing the
        release the decision started if the airlock died in it (SIGKILL after the approval
        committed: ``release_request`` is idempotent)."""
        if not directory.is_output_checker(person):
            raise PermissionDenied(f"review {request_id}: {person} is not an output checker")
        status = str(get_request_detail(self.config, request_id).request["status"])
        if status == "approved":
            release_request(self.config, directory, request_id, actor=person)
            status = "released"
        return {"request_id": request_id, "status": status}

    def review(self, verified: VerifiedPerson, request_id: str, body: Any) -> dict[str, Any]:
        person, directory = verified.user_id, PersonDirectory(self.base, verified)
        decision = cast(Decision, _text(body, "decision"))
        reason = _text(body, "reason")
        file = _text(body, "file", required=False) or None
        if self._is_repeated(person, request_id, file, decision):
            return self._answer_again(directory, person, request_id)
        self._refuse_second_decision(person, request_id, file)
        if file is None:
            status = record_review(self.config, directory, person, request_id, decision, reason)
        else:
            status = record_file_review(
                self.config, directory, person, request_id, file, decision, reason
            )
        return {"request_id": request_id, "status": status}

    def release(self, verified: VerifiedPerson, request_id: str, body: Any) -> dict[str, Any]:
        del body
        person, directory = verified.user_id, PersonDirectory(self.base, verified)
        if not directory.is_output_checker(person):
            raise PermissionDenied(f"release {request_id}: {person} is not an output checker")
        detail = get_request_detail(self.config, request_id)
        if detail.request["status"] not in ("approved", "released"):
            missing = [
                f["name"]
                for f in detail.files
                if len({d["reviewer"] for d in f["decisions"] if d["decision"] == "approve"})
                < REQUIRED_REVIEWS
            ]
            raise PermissionDenied(
                f"release {request_id}: the request is {detail.request['status']}; release "
                f"needs the approval of {REQUIRED_REVIEWS} distinct output checkers for every "
                f"file (missing for {', '.join(missing) or 'none'})"
            )
        files = release_request(self.config, directory, request_id, actor=person)
        return {"request_id": request_id, "files": files}

    def _readable(self, verified: VerifiedPerson, request_id: str) -> tuple[Any, bool, bool]:
        """The request's detail if ``verified`` may see it (its author, an output checker, a
        member of its project's team); with whether they check outputs and are on the team."""
        person, directory = verified.user_id, PersonDirectory(self.base, verified)
        detail = get_request_detail(self.config, request_id)
        checker = directory.is_output_checker(person)
        on_team = directory.is_team_member(person, detail.request["project"])
        if person != detail.request["author"] and not checker and not on_team:
            raise PermissionDenied(
                f"request {request_id}: only its author, its project's team and output "
                "checkers may see it"
            )
        return detail, checker, on_team

    def show(self, verified: VerifiedPerson, request_id: str, body: Any) -> dict[str, Any]:
        del body
        detail, checker, on_team = self._readable(verified, request_id)
        return request_detail_to_json(detail) | {
            "caller": {"user_id": verified.user_id, "output_checker": checker,
                       "on_team": on_team}
        }

    def file(self, verified: VerifiedPerson, request_id: str, name: str,
             body: Any) -> dict[str, Any]:
        """A file of the request as checked (its snapshot), base64."""
        del body
        detail, _, _ = self._readable(verified, request_id)
        if name not in {f["name"] for f in detail.files}:
            raise NotFoundError(f"request {request_id}: no file {name!r}")
        content = get_snapshot_file(self.config, request_id, name).read_bytes()
        return {"name": name, "content_base64": base64.b64encode(content).decode()}

    def queue(self, verified: VerifiedPerson, query: dict[str, str],
              body: Any) -> dict[str, Any]:
        """Requests (oldest first) in the comma-separated ``status`` (default: every status),
        of ``project`` if given: every project's for an output checker, else only a project
        whose team the person is on."""
        del body
        person, directory = verified.user_id, PersonDirectory(self.base, verified)
        project = query.get("project") or None
        if not directory.is_output_checker(person) and not (
            project is not None and directory.is_team_member(person, project)
        ):
            raise PermissionDenied(
                f"queue: {person} is not an output checker"
                + (f" nor on the team of {project}" if project else
                   "; others see only the requests of a project whose team they are on")
            )
        statuses = [s for s in query.get("status", "").split(",") if s] or None
        return {"requests": get_queue(self.config, statuses=statuses, project=project)}


def create_airlock_app(
    config: GenomlabConfig,
    *,
    people: PersonCheck | None = None,
    directory: AirlockDirectory | None = None,
) -> FastAPI:
    """The airlock's ASGI app over ``config``'s airlock store, checking outputs by ``config``'s
    disclosure rules (refused below the platform minimum: :class:`ValidationFailed`).

    ``directory`` (who is on a team, who checks outputs, where a release is registered)
    defaults to the platform service asked with the airlock's own client
    (:class:`~genomlab.services.airlock_platform.ServiceDirectory`).
    """
    check_service_disclosure(config.disclosure, source=CONFIG_SOURCE)
    people = people or PersonCheck.for_service(config, "airlock", AIRLOCK_AUDIENCE)
    desk = AirlockDesk(config, directory or ServiceDirectory.for_airlock(config))
    open_airlock_ledger(config)  # the process owns the store: made (migrated) at start
    app = FastAPI(title="genomlab airlock", docs_url=None, redoc_url=None, openapi_url=None)

    def act(
        authorization: str | None, function: Callable[..., dict[str, Any]], *args: Any
    ) -> JSONResponse:
        """The person check (a call to the platform), then the action; in a worker thread."""
        try:
            person = people.verify(authorization)
        except OAuthError as error:
            return _oauth_response(error)
        except ServiceUnavailable as exc:
            return _error_response(exc)
        try:
            return JSONResponse(function(person, *args), headers=NO_STORE)
        except GenomlabError as exc:
            return _error_response(exc)

    async def handle(
        request: Request, function: Callable[..., dict[str, Any]], *args: Any
    ) -> JSONResponse:
        try:
            body = await request.json() if request.method == "POST" else None
        except ValueError:
            body = None  # refused after the person check, so a stranger learns nothing
        response: JSONResponse = await run_in_threadpool(
            act, request.headers.get("authorization"), function, *args, body
        )
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "airlock"}

    @app.post(REQUESTS_PATH)
    async def submit_route(request: Request) -> JSONResponse:
        return await handle(request, desk.submit)

    @app.post(REQUESTS_PATH + "/{request_id}/reviews")
    async def review_route(request_id: str, request: Request) -> JSONResponse:
        return await handle(request, desk.review, request_id)

    @app.post(REQUESTS_PATH + "/{request_id}/release")
    async def release_route(request_id: str, request: Request) -> JSONResponse:
        return await handle(request, desk.release, request_id)

    @app.get(REQUESTS_PATH)
    async def queue_route(request: Request) -> JSONResponse:
        return await handle(request, desk.queue, dict(request.query_params))

    @app.get(REQUESTS_PATH + "/{request_id}")
    async def show_route(request_id: str, request: Request) -> JSONResponse:
        return await handle(request, desk.show, request_id)

    @app.get(REQUESTS_PATH + "/{request_id}/files/{name}")
    async def file_route(request_id: str, name: str, request: Request) -> JSONResponse:
        return await handle(request, desk.file, request_id, name)

    return app
