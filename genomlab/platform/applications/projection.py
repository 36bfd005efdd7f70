"""Projection of the platform ledger's application events into tables the dashboards read.

Tables (SQLAlchemy Core, portable SQL): ``app_users``, ``app_roles``, ``app_datasets``,
``applications``, ``app_team``, ``app_votes``, ``app_entitlements``, ``app_results``,
``app_history`` and ``app_register`` (each submitted application's public entry, pre-rendered as
JSON and as a CSV line, so the register page and export never parse forms). Everything here is
derived from events only (time = the event's ``recorded_at``), so
:func:`genomlab.ledger.projection_matches` can prove the live tables equal a replay. Events of
other types (e.g. the node registry's) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from genomlab.ledger import DispatchProjection, Event, EventHandler
from genomlab.platform.applications.register_entry import build_register_entry, render_csv_line

metadata = MetaData()

users = Table(
    "app_users", metadata,
    Column("user_id", String(200), primary_key=True),
    Column("institution", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("registered_at", String(32), nullable=False),
)
roles = Table(
    "app_roles", metadata,
    Column("user_id", String(200), primary_key=True),
    Column("role", String(20), primary_key=True),
    Column("granted_by", String(200), nullable=False),
    Column("granted_at", String(32), nullable=False),
)
datasets = Table(
    "app_datasets", metadata,
    Column("dataset_id", String(64), primary_key=True),
    Column("tags", Text, nullable=False),
    Column("tagged_at", String(32), nullable=False),
)
applications = Table(
    "applications", metadata,
    Column("application_id", String(20), primary_key=True),
    Column("project_id", String(20), nullable=True, unique=True),
    Column("applicant", String(200), nullable=False, index=True),
    Column("institution", String(200), nullable=False),
    Column("title", String(300), nullable=False),
    Column("purposes", String(100), nullable=False),
    Column("duo_permission", String(8), nullable=False),
    Column("level", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("form", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("submitted_at", String(32), nullable=True),
    Column("status_changed_at", String(32), nullable=False),
    Column("handler", String(200), nullable=True),
    Column("review_requested", Boolean, nullable=False, default=False),
    Column("n_votes", Integer, nullable=False, default=0),
    Column("decided_at", String(32), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("last_reason", Text, nullable=True),
    Column("changed_fields", Text, nullable=True),
    Column("valid_from", String(10), nullable=True),
    Column("valid_until", String(10), nullable=True),
    Column("approval", Text, nullable=True),
    Column("revocation", Text, nullable=True),
    Index("ix_applications_queue", "status", "status_changed_at"),
    Index("ix_applications_submitted", "submitted_at"),
)
team = Table(
    "app_team", metadata,
    Column("application_id", String(20), primary_key=True),
    Column("user_id", String(200), primary_key=True, index=True),
)
votes = Table(
    "app_votes", metadata,
    Column("application_id", String(20), primary_key=True),
    Column("voter", String(200), primary_key=True),
    Column("vote", String(10), nullable=False),
    Column("comment", Text, nullable=False),
    Column("voted_at", String(32), nullable=False),
)
entitlements = Table(
    "app_entitlements", metadata,
    Column("application_id", String(20), primary_key=True),
    Column("user_id", String(200), primary_key=True, index=True),
    Column("project_id", String(20), nullable=False, index=True),
    Column("valid_from", String(10), nullable=False),
    Column("valid_until", String(10), nullable=False),
    Column("ended_at", String(32), nullable=True),
    Column("end_reason", String(16), nullable=True),
)
results = Table(
    "app_results", metadata,
    Column("application_id", String(20), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("title", String(500), nullable=False),
    Column("reference", String(500), nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", String(32), nullable=False),
)
history = Table(
    "app_history", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("application_id", String(20), nullable=False, index=True),
    Column("type", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", String(32), nullable=False),
    Column("detail", Text, nullable=False),
)

register = Table(
    "app_register", metadata,
    Column("application_id", String(20), primary_key=True),
    Column("submitted_at", String(32), nullable=False, index=True),
    Column("project_id", String(20), nullable=False),
    Column("title", String(300), nullable=False),
    Column("institution", String(200), nullable=False),
    Column("purposes", String(100), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("entry", Text, nullable=False),
    Column("csv", Text, nullable=False),
)

ENDING_EVENTS = {"application.closed": "closed", "application.revoked": "revoked",
                 "application.expired": "expired"}


def _set(conn: Connection, application_id: str, **values: Any) -> None:
    conn.execute(update(applications)
                 .where(applications.c.application_id == application_id).values(**values))


def _set_team(conn: Connection, application_id: str, applicant: str, form: dict) -> None:
    conn.execute(delete(team).where(team.c.application_id == application_id))
    members = sorted({applicant, *form.get("team", ())})
    conn.execute(insert(team), [{"application_id": application_id, "user_id": m}
                                for m in members])


def _form_columns(form: dict) -> dict[str, Any]:
    return {"title": form["title"], "purposes": ",".join(form["purposes"]),
            "duo_permission": form["duo_permission"], "level": form.get("level", "aggregated"),
            "form": json.dumps(form, sort_keys=True, ensure_ascii=False)}


def _drafted(conn: Connection, e: Event) -> None:
    p = e.payload
    conn.execute(insert(applications).values(
        application_id=p["application_id"], applicant=e.actor, institution=p["institution"],
        status="draft", created_at=e.recorded_at, status_changed_at=e.recorded_at,
        review_requested=False, n_votes=0, **_form_columns(p["form"])))
    _set_team(conn, p["application_id"], e.actor, p["form"])


def _edited(conn: Connection, e: Event) -> None:
    p = e.payload
    _set(conn, p["application_id"], **_form_columns(p["form"]))
    _set_team(conn, p["application_id"], e.actor, p["form"])


def _submitted(conn: Connection, e: Event) -> None:
    p = e.payload
    values: dict[str, Any] = {"status": "submitted", "status_changed_at": e.recorded_at,
                              "project_id": p["project_id"],
                              "changed_fields": ",".join(p["changed_fields"]) or None}
    if p["first"]:
        values["submitted_at"] = e.recorded_at
    _set(conn, p["application_id"], **values)


def _status(status: str, **extra: str) -> Callable[[Connection, Event], None]:
    def apply(conn: Connection, e: Event) -> None:
        values: dict[str, Any] = {"status": status, "status_changed_at": e.recorded_at}
        if "reason" in e.payload:
            values["last_reason"] = e.payload["reason"]
        values.update({column: e.payload[key] for column, key in extra.items()})
        _set(conn, e.payload["application_id"], **values)
    return apply


def _assigned(conn: Connection, e: Event) -> None:
    _set(conn, e.payload["application_id"], handler=e.payload["handler"], status="under_review",
         status_changed_at=e.recorded_at)


def _review_requested(conn: Connection, e: Event) -> None:
    _set(conn, e.payload["application_id"], review_requested=True)


def _voted(conn: Connection, e: Event) -> None:
    p = e.payload
    conn.execute(insert(votes).values(application_id=p["application_id"], voter=e.actor,
                                      vote=p["vote"], comment=p["comment"],
                                      voted_at=e.recorded_at))
    _set(conn, p["application_id"], n_votes=applications.c.n_votes + 1)


def _decided(status: str) -> Callable[[Connection, Event], None]:
    def apply(conn: Connection, e: Event) -> None:
        p = e.payload
        values: dict[str, Any] = {"status": status, "status_changed_at": e.recorded_at,
                                  "decided_at": e.recorded_at, "decided_by": e.actor,
                                  "last_reason": p.get("reason") or None}
        if status == "approved":
            values.update(valid_from=p["valid_from"], valid_until=p["valid_until"],
                          approval=json.dumps(p["approval"], sort_keys=True))
            conn.execute(insert(entitlements), [
                {"application_id": p["application_id"], "user_id": user,
                 "project_id": p["project_id"], "valid_from": p["valid_from"],
                 "valid_until": p["valid_until"]} for user in p["approval"]["body"]["team"]])
        _set(conn, p["application_id"], **values)
    return apply


def _resigned(conn: Connection, e: Event) -> None:
    """The approval signed again with a rotated key: the new document is the current one."""
    _set(conn, e.payload["application_id"],
         approval=json.dumps(e.payload["approval"], sort_keys=True))


def _ended(conn: Connection, e: Event) -> None:
    p = e.payload
    reason = ENDING_EVENTS[e.type]
    values: dict[str, Any] = {"status": reason, "status_changed_at": e.recorded_at,
                              "last_reason": p.get("reason") or None}
    if p.get("revocation") is not None:
        values["revocation"] = json.dumps(p["revocation"], sort_keys=True)
    _set(conn, p["application_id"], **values)
    conn.execute(update(entitlements)
                 .where(entitlements.c.application_id == p["application_id"],
                        entitlements.c.ended_at.is_(None))
                 .values(ended_at=e.recorded_at, end_reason=reason))


def _result(conn: Connection, e: Event) -> None:
    p = e.payload
    conn.execute(insert(results).values(application_id=p["application_id"], seq=e.seq,
                                        kind=p["kind"], title=p["title"],
                                        reference=p["reference"], added_by=e.actor,
                                        added_at=e.recorded_at))


def _user(conn: Connection, e: Event) -> None:
    p = e.payload
    conn.execute(insert(users).values(user_id=p["user_id"], institution=p["institution"],
                                      name=p["name"], registered_at=e.recorded_at))


def _role_granted(conn: Connection, e: Event) -> None:
    conn.execute(insert(roles).values(user_id=e.payload["user_id"], role=e.payload["role"],
                                      granted_by=e.actor, granted_at=e.recorded_at))


def _role_withdrawn(conn: Connection, e: Event) -> None:
    conn.execute(delete(roles).where(roles.c.user_id == e.payload["user_id"],
                                     roles.c.role == e.payload["role"]))


def _dataset(conn: Connection, e: Event) -> None:
    tags = e.payload["tags"]
    conn.execute(delete(datasets).where(datasets.c.dataset_id == tags["dataset_id"]))
    conn.execute(insert(datasets).values(dataset_id=tags["dataset_id"],
                                         tags=json.dumps(tags, sort_keys=True),
                                         tagged_at=e.recorded_at))


def _case_file(conn: Connection, e: Event) -> None:
    """Attachments, recommendations and comments live in the application's history only."""


HANDLERS: dict[str, EventHandler] = {
    "platform.user.registered": _user,
    "platform.role.granted": _role_granted,
    "platform.role.withdrawn": _role_withdrawn,
    "platform.dataset.tagged": _dataset,
    "application.drafted": _drafted,
    "application.edited": _edited,
    "application.submitted": _submitted,
    "application.returned": _status("returned"),
    "application.handler_assigned": _assigned,
    "application.review_requested": _review_requested,
    "application.vote_recorded": _voted,
    "application.approved": _decided("approved"),
    "approval.resigned": _resigned,
    "application.rejected": _decided("rejected"),
    "application.closed": _ended,
    "application.revoked": _ended,
    "application.expired": _ended,
    "application.result_added": _result,
    "application.document_attached": _case_file,
    "application.decision_requested": _case_file,
    "application.commented": _case_file,
    "application.feasibility_attached": _case_file,
    "application.dataset_decided": _case_file,
}


def _refresh_register(conn: Connection, application_id: str) -> None:
    """Re-render the public register entry of a submitted application."""
    app = conn.execute(select(applications)
                       .where(applications.c.application_id == application_id)).one()
    if app.submitted_at is None:
        return
    members = conn.execute(select(users.c.user_id, users.c.name, users.c.institution)
                           .join(team, team.c.user_id == users.c.user_id)
                           .where(team.c.application_id == application_id)
                           .order_by(users.c.user_id)).all()
    found = [{"kind": r.kind, "title": r.title, "reference": r.reference,
              "added_on": r.added_at[:10]}
             for r in conn.execute(select(results).where(results.c.application_id ==
                                                         application_id)
                                   .order_by(results.c.seq))]
    applicant = conn.execute(select(users.c.name).where(users.c.user_id == app.applicant))
    entry = build_register_entry(app, applicant.scalar() or app.applicant,
                                 [f"{m.name} ({m.institution})" for m in members], found)
    conn.execute(delete(register).where(register.c.application_id == application_id))
    conn.execute(insert(register).values(
        application_id=application_id, submitted_at=app.submitted_at,
        project_id=app.project_id, title=app.title, institution=app.institution,
        purposes=app.purposes, status=app.status,
        entry=json.dumps(entry, ensure_ascii=False), csv=render_csv_line(entry)))


def _detail(event: Event) -> str:
    keep = {k: v for k, v in event.payload.items()
            if k in ("reason", "handler", "vote", "comment", "note", "valid_until", "title",
                     "changed_fields", "kind", "name", "sha256", "size", "recommendation", "query",
                     "nodes", "total", "dataset_id", "decision", "committee_votes",
                     "duo_override_reason")}
    return json.dumps(keep, sort_keys=True, ensure_ascii=False)


class ApplicationsProjection(DispatchProjection):
    """The platform's application, role, entitlement and register state (a ledger projection).

    Each handled event of an application is also added to its history and re-renders its
    register entry.
    """

    metadata = metadata
    handlers = HANDLERS

    def apply(self, conn: Connection, event: Event) -> None:
        if event.type not in self.handlers:
            return
        super().apply(conn, event)
        application_id = event.payload.get("application_id")
        if application_id is not None:
            conn.execute(insert(history).values(seq=event.seq, application_id=application_id,
                                                type=event.type.removeprefix("application."),
                                                actor=event.actor, at=event.recorded_at,
                                                detail=_detail(event)))
            _refresh_register(conn, application_id)


PROJECTION = ApplicationsProjection()
