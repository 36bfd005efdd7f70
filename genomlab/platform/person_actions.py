"""What a verified person may ask the platform to do: one table, two transports.

Each action is the application workflow's (or user administration's) command with the acting
person as its first argument. The platform service (HTTP, a person's bearer token) and the CLI's
embedded path (the person's credentials checked in-process) call the same table, and the actor
they pass is *always* the subject of a verified person token: :func:`run_person_action` never
reads a name from the request. Fields of the request body that name a person as the actor
(``user``, ``actor``, ``as``, …) are not read at all; only the action's own fields are.

The HTTP paths (``genomlab.services.platform_api``) and the client
(:class:`genomlab.clients.platform.PlatformPersonClient`) are derived from :data:`ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from genomlab.errors import ValidationFailed
from genomlab.platform.applications.models import DatasetTags, Role, parse_form
from genomlab.platform.applications.workflow import Workflow

Body = Mapping[str, Any]


def _text(body: Body, field: str, action: str, *, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str):
        raise ValidationFailed(f"{action}: field {field}: expected text")
    return value


def _optional_text(body: Body, field: str, action: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{action}: field {field}: expected text or null")
    return value


def _day(body: Body, field: str, action: str) -> date | None:
    value = _optional_text(body, field, action)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{action}: field {field}: not an ISO date: {value!r}") from exc


def _mapping(body: Body, field: str, action: str) -> dict[str, Any]:
    value = body.get(field)
    if not isinstance(value, dict):
        raise ValidationFailed(f"{action}: field {field}: expected an object")
    return value


def _role(body: Body, action: str) -> Role:
    value = _text(body, "role", action)
    try:
        return Role(value)
    except ValueError as exc:
        known = ", ".join(r.value for r in Role)
        raise ValidationFailed(f"{action}: field role: {value!r} is not one of {known}") from exc


@dataclass(frozen=True)
class Action:
    """A person's action: the workflow call and where it is on HTTP.

    ``target`` names the path parameter (``application_id`` or ``user_id``) or is ``None`` for
    a collection (``POST /api/applications``); ``path`` is the HTTP path with ``{target}``.
    """

    name: str
    method: str
    path: str
    target: str | None
    run: Callable[[Workflow, str, str | None, Body], dict[str, Any]]


def _new(wf: Workflow, actor: str, _: str | None, body: Body) -> dict[str, Any]:
    form = parse_form(_mapping(body, "form", "apply new"), source="apply new: field form")
    application_id = wf.create_draft(actor, form)
    result: dict[str, Any] = {"application_id": application_id, "status": "draft"}
    if body.get("submit") is True:
        result.update(project_id=wf.submit(actor, application_id), status="submitted")
    return result


def _edit(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    form = parse_form(_mapping(body, "form", "apply edit"), source="apply edit: field form")
    wf.edit(actor, str(app), form)
    return {"application_id": app, "status": "edited"}


def _submit(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    return {"application_id": app, "project_id": wf.submit(actor, str(app))}


def _reasoned(method: str) -> Callable[[Workflow, str, str | None, Body], dict[str, Any]]:
    def run(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
        getattr(wf, method)(actor, str(app), _text(body, "reason", method))
        return {"application_id": app, "done": method}

    return run


RESULT_KINDS = ("publication", "report", "dataset", "software")


def _result(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    kind = _text(body, "kind", "result")
    if kind not in RESULT_KINDS:
        raise ValidationFailed(f"result: field kind: expected one of {', '.join(RESULT_KINDS)}")
    wf.add_result(
        actor,
        str(app),
        kind=kind,  # type: ignore[arg-type]
        title=_text(body, "title", "result"),
        reference=_text(body, "reference", "result"),
    )
    return {"application_id": app, "done": "add_result"}


def _assign(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    wf.assign_handler(actor, str(app), _optional_text(body, "handler", "assign"))
    return {"application_id": app, "status": "under_review"}


def _request_committee(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    wf.request_committee_review(actor, str(app), _text(body, "note", "request", default=""))
    return {"application_id": app, "done": "request_committee_review"}


def _vote(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    vote = _text(body, "vote", "vote")
    wf.record_vote(
        actor,
        str(app),
        vote,  # type: ignore[arg-type]
        _text(body, "comment", "vote", default=""),
    )
    return {"application_id": app, "vote": vote}


def _comment(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    wf.comment_to_applicant(actor, str(app), _text(body, "comment", "comment"))
    return {"application_id": app, "done": "comment_to_applicant"}


def _request_decision(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    wf.request_decision(
        actor,
        str(app),
        _text(body, "recommendation", "request decision"),
        _text(body, "note", "request decision"),
    )
    return {"application_id": app, "done": "request_decision"}


def _decide_dataset(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    wf.decide_dataset(
        actor,
        str(app),
        _text(body, "dataset_id", "decide dataset"),
        _text(body, "decision", "decide dataset"),
        _text(body, "reason", "decide dataset"),
    )
    return {"application_id": app, "done": "decide_dataset"}


def _approve(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    document = wf.approve(
        actor,
        str(app),
        valid_from=_day(body, "valid_from", "approve"),
        valid_until=_day(body, "valid_until", "approve"),
        note=_text(body, "note", "approve", default=""),
        duo_override_reason=_optional_text(body, "duo_override_reason", "approve"),
    )
    grant = document.body
    return {
        "application_id": app,
        "project_id": grant["project_id"],
        "team": grant["team"],
        "valid_from": grant["valid_from"],
        "valid_until": grant["valid_until"],
        "key_id": document.key_id,
        "status": "approved",
    }


def _add_user(wf: Workflow, actor: str, _: str | None, body: Body) -> dict[str, Any]:
    user_id = _text(body, "user_id", "add user")
    wf.register_user(
        actor,
        user_id,
        institution=_text(body, "institution", "add user"),
        name=_text(body, "name", "add user", default=""),
    )
    return {"user_id": user_id, "done": "register_user"}


def _grant(wf: Workflow, actor: str, user: str | None, body: Body) -> dict[str, Any]:
    role = _role(body, "grant")
    wf.grant_role(actor, str(user), role)
    return {"user_id": user, "role": role.value, "done": "grant_role"}


def _withdraw_role(wf: Workflow, actor: str, user: str | None, body: Body) -> dict[str, Any]:
    role = _role(body, "withdraw")
    wf.withdraw_role(actor, str(user), role)
    return {"user_id": user, "role": role.value, "done": "withdraw_role"}


def _tag_dataset(wf: Workflow, actor: str, _: str | None, body: Body) -> dict[str, Any]:
    from pydantic import ValidationError

    try:
        tags = DatasetTags.model_validate(_mapping(body, "tags", "tag dataset"))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValidationFailed(
            f"tag dataset: field tags.{'.'.join(map(str, error['loc']))}: {error['msg']}"
        ) from None
    wf.tag_dataset(actor, tags)
    return {"dataset_id": tags.dataset_id, "duo_permission": tags.duo_permission}


def _attach_document(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    import base64
    import binascii

    try:
        content = base64.b64decode(_text(body, "content_base64", "attach"), validate=True)
    except binascii.Error as exc:
        raise ValidationFailed("attach: field content_base64: not base64") from exc
    digest = wf.attach_document(
        actor,
        str(app),
        _text(body, "kind", "attach"),  # type: ignore[arg-type]
        _text(body, "name", "attach"),
        content,
    )
    return {"application_id": app, "sha256": digest}


def _attach_feasibility(wf: Workflow, actor: str, app: str | None, body: Body) -> dict[str, Any]:
    nodes = _mapping(body, "nodes", "attach feasibility")
    if not all(isinstance(v, str) for v in nodes.values()):
        raise ValidationFailed("attach feasibility: field nodes: node → count as text")
    wf.attach_feasibility(
        actor,
        str(app),
        _text(body, "query", "attach feasibility"),
        nodes,
        _text(body, "total", "attach feasibility"),
    )
    return {"application_id": app, "done": "attach_feasibility"}


APP = "/api/applications/{application_id}"
_ACTIONS = [
    Action("apply.new", "POST", "/api/applications", None, _new),
    Action("apply.edit", "POST", APP + "/edit", "application_id", _edit),
    Action("apply.submit", "POST", APP + "/submit", "application_id", _submit),
    Action("apply.close", "POST", APP + "/close", "application_id", _reasoned("close")),
    Action("apply.result", "POST", APP + "/results", "application_id", _result),
    Action("apply.attach", "POST", APP + "/documents", "application_id", _attach_document),
    Action(
        "apply.attach-feasibility",
        "POST",
        APP + "/feasibility",
        "application_id",
        _attach_feasibility,
    ),
    Action("review.assign", "POST", APP + "/assign", "application_id", _assign),
    Action(
        "review.return", "POST", APP + "/return", "application_id", _reasoned("return_application")
    ),
    Action(
        "review.request-committee",
        "POST",
        APP + "/request-committee",
        "application_id",
        _request_committee,
    ),
    Action("review.vote", "POST", APP + "/votes", "application_id", _vote),
    Action("review.comment", "POST", APP + "/comments", "application_id", _comment),
    Action(
        "review.request-decision",
        "POST",
        APP + "/request-decision",
        "application_id",
        _request_decision,
    ),
    Action(
        "review.decide-dataset",
        "POST",
        APP + "/dataset-decisions",
        "application_id",
        _decide_dataset,
    ),
    Action("review.approve", "POST", APP + "/approve", "application_id", _approve),
    Action("review.reject", "POST", APP + "/reject", "application_id", _reasoned("reject")),
    Action("review.revoke", "POST", APP + "/revoke", "application_id", _reasoned("revoke")),
    Action("review.tag-dataset", "POST", "/api/datasets", None, _tag_dataset),
    Action("users.add", "POST", "/api/users", None, _add_user),
    Action("users.grant", "POST", "/api/users/{user_id}/roles", "user_id", _grant),
    Action(
        "users.withdraw", "POST", "/api/users/{user_id}/roles/withdraw", "user_id", _withdraw_role
    ),
]
ACTIONS: dict[str, Action] = {action.name: action for action in _ACTIONS}
"""Every action a person may ask for, by name (``apply.submit``, ``review.approve``, …)."""


def run_person_action(
    workflow: Workflow, verified_user: str, name: str, target: str | None, body: Body
) -> dict[str, Any]:
    """Run action ``name`` for ``verified_user`` (the subject of a verified person token).

    ``target`` is the application or user the path names; ``body`` the action's fields. The
    workflow's refusals propagate (``PermissionDenied`` → 403, ``ConflictError`` → 409,
    ``ValidationFailed`` → 400, ``NotFoundError`` → 404); a refused action writes nothing.
    """
    action = ACTIONS.get(name)
    if action is None:
        raise ValidationFailed(f"person action {name!r} is not known")
    if (action.target is None) != (target is None):
        raise ValidationFailed(f"{name}: {action.target or 'no target'} expected")
    return action.run(workflow, verified_user, target, body)
