"""Read-side queries for the approvals dashboard and the CLI: a paginated queue and the detail.

Everything reads the projection tables with indexed SQL; nothing replays the ledger, so a page
of the queue costs the same with 100 or 100,000 applications.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, PermissionDenied
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.duo import MatchVerdict, match_application
from genomlab.platform.applications.entitlements import (
    get_active_entitlements,
    get_user_institution,
    get_user_roles,
)
from genomlab.platform.applications.models import (
    OPEN_STATUSES,
    ApplicationForm,
    DatasetTags,
    Role,
    Status,
)
from genomlab.platform.applications.store import read_platform

DEFAULT_PAGE_SIZE = 50
QUEUE_ROLES = frozenset({Role.HANDLER, Role.COMMITTEE, Role.DECIDER, Role.ADMIN})
"""Roles that see every application (the roles :func:`get_allowed_actions` offers review
commands to; admins for revoke). Everybody else sees their own applications only: the one
permission table of the approvals dashboard, in-process and behind the platform service."""
MAX_PAGE_SIZE = 500
QUEUE_COLUMNS = ("application_id", "project_id", "title", "applicant", "institution",
                 "purposes", "duo_permission", "level", "status", "handler", "n_votes",
                 "submitted_at", "status_changed_at")


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue: rows (dicts with ``age_days``), the total and the page."""

    rows: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def _age_days(since: str | None, now: datetime) -> int | None:
    return None if since is None else (now - datetime.fromisoformat(since)).days


def get_queue_page(config: GenomlabConfig, *, statuses: tuple[str, ...] = OPEN_STATUSES,
                   purpose: str | None = None, handler: str | None = None,
                   applicant: str | None = None, search: str | None = None, offset: int = 0,
                   limit: int = DEFAULT_PAGE_SIZE, now: datetime | None = None) -> QueuePage:
    """Applications in ``statuses``, oldest state change first (the longest waiting on top).

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> demo = run_applications_demo(config)
    >>> page = get_queue_page(config, statuses=("approved",), limit=50)
    >>> page.total, [row["application_id"] for row in page.rows] == [demo.application_id]
    (1, True)
    >>> get_queue_page(config, statuses=("submitted",)).total
    0
    """
    a = t.applications
    where: list[ColumnElement[bool]] = [a.c.status.in_([str(s) for s in statuses])]
    if purpose:
        where.append(a.c.purposes.like(f"%{purpose}%"))
    if handler:
        where.append(a.c.handler == handler)
    if applicant:
        where.append(a.c.applicant == applicant)
    if search:
        pattern = f"%{search.strip()}%"
        where.append(or_(a.c.title.like(pattern), a.c.application_id.like(pattern),
                         a.c.project_id.like(pattern), a.c.applicant.like(pattern),
                         a.c.institution.like(pattern)))
    now = (now or clock.now()).astimezone(UTC)
    with read_platform(config) as conn:
        total = conn.execute(select(func.count()).select_from(a).where(*where)).scalar_one()
        rows = conn.execute(select(*(a.c[c] for c in QUEUE_COLUMNS)).where(*where)
                            .order_by(a.c.status_changed_at, a.c.application_id)
                            .offset(offset).limit(limit)).mappings().all()
    return QueuePage([{**row, "age_days": _age_days(row["status_changed_at"], now)}
                      for row in rows], total, offset, limit)


def get_unregistered_members(conn: Connection, team: tuple[str, ...]) -> list[str]:
    """The members of ``team`` who are no registered platform user (a submission needs all)."""
    registered = set(conn.execute(select(t.users.c.user_id)
                                  .where(t.users.c.user_id.in_(list(team)))).scalars())
    return [member for member in team if member not in registered]


def get_dataset_tags(conn: Connection) -> list[DatasetTags]:
    """Every dataset's DUO tags."""
    return [DatasetTags.model_validate_json(text) for text in
            conn.execute(select(t.datasets.c.tags).order_by(t.datasets.c.dataset_id)).scalars()]


@dataclass(frozen=True)
class ApplicationDetail:
    """Everything the reviewer sees about one application."""

    row: dict[str, Any]
    form: ApplicationForm
    team: list[dict[str, str]]
    votes: list[dict[str, Any]]
    history: list[dict[str, Any]]
    results: list[dict[str, Any]]
    verdicts: list[MatchVerdict]


def get_application_detail(config: GenomlabConfig, application_id: str) -> ApplicationDetail:
    """One application with team, votes, timeline, results and the DUO matching verdicts."""
    a = t.applications
    with read_platform(config) as conn:
        row = conn.execute(select(a).where(a.c.application_id == application_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"application {application_id} not found")
        team = conn.execute(select(t.team.c.user_id, t.users.c.name, t.users.c.institution)
                            .join(t.users, t.users.c.user_id == t.team.c.user_id, isouter=True)
                            .where(t.team.c.application_id == application_id)
                            .order_by(t.team.c.user_id)).mappings().all()
        votes = conn.execute(select(t.votes).where(t.votes.c.application_id == application_id)
                             .order_by(t.votes.c.voted_at)).mappings().all()
        history = conn.execute(select(t.history).where(t.history.c.application_id ==
                                                       application_id)
                               .order_by(t.history.c.seq)).mappings().all()
        results = conn.execute(select(t.results).where(t.results.c.application_id ==
                                                       application_id)
                               .order_by(t.results.c.seq)).mappings().all()
        tags = get_dataset_tags(conn)
    form = ApplicationForm.model_validate_json(row["form"])
    return ApplicationDetail(
        row=dict(row), form=form, team=[dict(m) for m in team], votes=[dict(v) for v in votes],
        history=[{**h, "detail": json.loads(h["detail"])} for h in history],
        results=[dict(r) for r in results], verdicts=match_application(form, tags))


def get_allowed_actions(config: GenomlabConfig, user: str, detail: ApplicationDetail,
                        roles: frozenset[Role] | None = None) -> list[str]:
    """The commands ``user`` could run on the application now (what the dashboard offers).

    A hint for the UI only: the workflow checks everything again when the command runs.
    """
    roles = get_user_roles(config, user) if roles is None else roles
    status = Status(detail.row["status"])
    members = {m["user_id"] for m in detail.team}
    sides = {detail.row["institution"]} | {m["institution"] for m in detail.team}
    conflicted = user in members or get_user_institution(config, user) in sides
    actions: list[str] = []
    if user == detail.row["applicant"] and status in (Status.DRAFT, Status.RETURNED):
        actions += ["submit"]
    if conflicted:
        return actions
    reviewing = status in (Status.SUBMITTED, Status.UNDER_REVIEW)
    if Role.HANDLER in roles and reviewing:
        actions += ["assign", "return"]
        if status is Status.UNDER_REVIEW and not detail.row["review_requested"]:
            actions.append("request_review")
        if status is Status.UNDER_REVIEW:
            actions.append("request_decision")
        actions.append("comment")
    voted = any(v["voter"] == user for v in detail.votes)
    if (Role.COMMITTEE in roles and status is Status.UNDER_REVIEW
            and detail.row["review_requested"] and not voted):
        actions.append("vote")
    if Role.DECIDER in roles and reviewing:
        actions += (["approve"] if status is Status.UNDER_REVIEW else []) + ["reject"]
    if Role.HANDLER in roles and (reviewing or status is Status.APPROVED):
        actions.append("close")
    if roles & {Role.DECIDER, Role.ADMIN} and status is Status.APPROVED:
        actions.append("revoke")
    return actions


def may_see_queue(roles: frozenset[Role]) -> bool:
    """Whether holders of ``roles`` see every application (:data:`QUEUE_ROLES`).

    >>> may_see_queue(frozenset({Role.DECIDER})), may_see_queue(frozenset({Role.OUTPUT_CHECKER}))
    (True, False)
    """
    return bool(roles & QUEUE_ROLES)


def check_queue_access(user: str, roles: frozenset[Role], applicant: str | None) -> None:
    """Refuse ``user`` a queue page unless they hold a :data:`QUEUE_ROLES` role or ask for their
    own applications only (``applicant`` is themselves).

    >>> check_queue_access("alice", frozenset(), "alice")
    >>> check_queue_access("alice", frozenset(), None)
    Traceback (most recent call last):
    ...
    genomlab.errors.PermissionDenied: queue: alice needs the role admin, committee, decider or \
handler to see applications other than their own
    """
    if may_see_queue(roles) or (applicant is not None and applicant == user):
        return
    *most, last = sorted(r.value for r in QUEUE_ROLES)
    raise PermissionDenied(f"queue: {user} needs the role {', '.join(most)} or {last} to see "
                           "applications other than their own")


def check_application_access(user: str, roles: frozenset[Role],
                             detail: ApplicationDetail) -> None:
    """Refuse ``user`` an application unless they hold a :data:`QUEUE_ROLES` role or are its
    applicant or on its team."""
    members = {m["user_id"] for m in detail.team} | {detail.row["applicant"]}
    if may_see_queue(roles) or user in members:
        return
    raise PermissionDenied(f"application {detail.row['application_id']}: {user} is neither on "
                           "its team nor a handler, committee member, decider or admin")


def get_earlier_projects(config: GenomlabConfig, detail: ApplicationDetail,
                         limit: int = 20) -> list[dict[str, Any]]:
    """The applicant's other applications (oldest state change first, at most ``limit``), each
    with ``project_id``, ``title``, ``status`` and its ``results``: two queries, not one per
    application."""
    a = t.applications
    applicant, own = detail.row["applicant"], detail.row["application_id"]
    with read_platform(config) as conn:
        rows = [dict(r) for r in conn.execute(
            select(a.c.application_id, a.c.project_id, a.c.title, a.c.status)
            .where(a.c.applicant == applicant, a.c.application_id != own)
            .order_by(a.c.status_changed_at, a.c.application_id).limit(limit)).mappings()]
        results = conn.execute(
            select(t.results).where(t.results.c.application_id.in_(
                [r["application_id"] for r in rows])).order_by(t.results.c.seq)).mappings().all()
    for row in rows:
        row["results"] = [dict(r) for r in results
                          if r["application_id"] == row["application_id"]]
    return rows


def queue_page_to_json(page: QueuePage) -> dict[str, Any]:
    """A queue page as JSON (what the platform service answers)."""
    return asdict(page)


def queue_page_from_json(data: dict[str, Any]) -> QueuePage:
    """The :class:`QueuePage` of :func:`queue_page_to_json`'s answer."""
    return QueuePage(list(data["rows"]), int(data["total"]), int(data["offset"]),
                     int(data["limit"]))


def detail_to_json(detail: ApplicationDetail) -> dict[str, Any]:
    """An application's detail as JSON (what the platform service answers)."""
    return {"row": detail.row, "form": detail.form.model_dump(mode="json"),
            "team": detail.team, "votes": detail.votes, "history": detail.history,
            "results": detail.results, "verdicts": [asdict(v) for v in detail.verdicts]}


def detail_from_json(data: dict[str, Any]) -> ApplicationDetail:
    """The :class:`ApplicationDetail` of :func:`detail_to_json`'s answer."""
    return ApplicationDetail(
        row=dict(data["row"]), form=ApplicationForm.model_validate(data["form"]),
        team=list(data["team"]), votes=list(data["votes"]), history=list(data["history"]),
        results=list(data["results"]),
        verdicts=[MatchVerdict(v["subject"], v["verdict"], tuple(v["reasons"]))
                  for v in data["verdicts"]])


def get_member_projects(config: GenomlabConfig, user: str,
                        at: datetime | None = None) -> list[dict[str, Any]]:
    """``user``'s entitlements active at ``at`` (default: now), by project id, each with its
    project's ``team`` (applicant and members, sorted) and ``duo_codes`` (the DUO terms of the
    datasets its application asked for, in order, once each): what a researcher's notebook
    opens with (:mod:`genomlab.workspace.notebook_context`, :func:`genomlab.workspace.release.
    open_release`). Three queries, whatever the number of projects."""
    entitlements = get_active_entitlements(config, user, at)
    ids = [e.application_id for e in entitlements]
    a = t.applications
    with read_platform(config) as conn:
        forms = dict(conn.execute(select(a.c.application_id, a.c.form)
                                  .where(a.c.application_id.in_(ids))).tuples().all())
        teams: dict[str, list[str]] = {}
        for application_id, member in conn.execute(
                select(t.team.c.application_id, t.team.c.user_id)
                .where(t.team.c.application_id.in_(ids)).order_by(t.team.c.user_id)):
            teams.setdefault(application_id, []).append(member)
        tags = get_dataset_tags(conn)
    projects = []
    for e in entitlements:
        categories = set(ApplicationForm.model_validate_json(forms[e.application_id])
                         .data_categories)
        codes = [code for tag in tags if tag.data_category in categories
                 for code in (tag.duo_permission, *tag.duo_modifiers)]
        projects.append({"application_id": e.application_id, "project_id": e.project_id,
                         "user_id": e.user_id, "valid_from": e.valid_from.isoformat(),
                         "valid_until": e.valid_until.isoformat(),
                         "team": teams.get(e.application_id, []),
                         "duo_codes": list(dict.fromkeys(codes))})
    return projects
