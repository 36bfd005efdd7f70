"""The event-sourced review workflow of data-use applications, with roles and conflict checks.

States: ``draft → submitted ⇄ returned → under_review → approved / rejected → closed / revoked /
expired``. Every command runs in one serialised ledger transaction: it reads the current state,
checks (in this order) the input, the actor's role, conflicts of interest and the state, then
appends one event that the projection applies in the same transaction. So two deciders acting on
the same application at once cannot both succeed: the second sees the first one's decision and
gets a :class:`ConflictError`.

Who may do what:

============================  ====================  =========================================
command                       role                  from state
============================  ====================  =========================================
create_draft, edit, submit    applicant             draft (edit/submit also returned)
assign_handler                handler               submitted, under_review
return_application (reason)   handler               submitted, under_review
request_committee_review      handler (assigned)    under_review
record_vote                   committee             under_review after a review request
approve                       decider               under_review
reject (reason)               decider               submitted, under_review
close (reason)                applicant or handler  any open state, approved
revoke (reason)               decider or admin      approved
expire_due                    the expirer (system)  approved, past valid_until
resign_approvals              the operator          approved, in force (after a key rotation)
add_result                    team member           approved, closed, expired, revoked
============================  ====================  =========================================

Nobody handles, votes on or decides an application of their own, of a team they are on, or of
an institution of the applicant or a team member. Approval signs an :class:`ApprovalGrant` with
the platform's ``approval`` key and gives every team member an entitlement until
``valid_until``; closing, revocation and expiry end them at once and are signed as
``approval-revocation`` documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from genomlab.config import GenomlabConfig
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.institution import Institution
from genomlab.ledger import LedgerTransaction, events_table
from genomlab.messages import (
    APPROVAL_KIND,
    REVOCATION_KIND,
    ApprovalGrant,
    SignedDocument,
    compute_document_digest,
    sign_document,
)
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.decision_rules import (
    check_committee_quorum,
    check_duo_override,
    count_committee_votes,
    get_blocking_verdicts,
)
from genomlab.platform.applications.models import (
    ApplicationForm,
    DatasetTags,
    ResultKind,
    Role,
    Status,
    Vote,
    check_submittable,
)
from genomlab.platform.applications.queries import get_unregistered_members
from genomlab.platform.applications.store import APPROVAL_KEY, open_platform_ledger

RESIGNED_EVENT = "approval.resigned"
KEY_ROTATED_EVENT = "key.rotated"
EXPIRER = "platform-expirer"
"""Actor name of the expiry job (REMS' expirer bot)."""
MIN_REASON_LENGTH = 5
"""Characters: a reason must say something (REMS and EGA require a comment on denial)."""


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day.

    Examples
    --------
    >>> add_months(date(2026, 1, 31), 1)
    datetime.date(2026, 2, 28)
    """
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


DocumentKind = Literal["ethics_vote", "data_protection_concept", "signed_terms", "other"]
"""What a case-file document is (``application.document_attached``)."""
DOCUMENT_KINDS: dict[str, str] = {"ethics_vote": "Ethics committee vote",
                                  "data_protection_concept": "Data-protection concept",
                                  "signed_terms": "Signed terms of use", "other": "Document"}


def get_attachment_path(config: GenomlabConfig, application_id: str, sha256: str,
                        name: str) -> Path:
    """Where a case-file document of an application is stored."""
    return config.home / "platform" / "attachments" / application_id / f"{sha256[:16]}-{name}"


def _require_reason(reason: str | None, application_id: str, command: str) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON_LENGTH:
        raise ValidationFailed(f"{application_id}: reason: {command} needs a reason of at least "
                               f"{MIN_REASON_LENGTH} characters")
    return text


class Workflow:
    """Commands on data-use applications for one configuration (the platform's ledger).

    Parameters
    ----------
    config:
        Where the platform store and keys are.
    clock:
        The time the events record (tests pass a fixed clock); ``genomlab.clock.now()`` by default.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> wf = Workflow(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    >>> wf.bootstrap_admin("root", institution="BfArM")
    >>> wf.register_user("root", "alice", institution="Uni Tübingen")
    >>> form = ApplicationForm(title="Penetrance", lay_summary="l", scientific_abstract="a",
    ...     purposes=("quality_assurance",), duo_permission="HMB", data_categories=("clinical",))
    >>> wf.create_draft("alice", form)
    'APP-000001'
    """

    def __init__(self, config: GenomlabConfig,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.ledger = open_platform_ledger(config, clock)
        self._open: LedgerTransaction | None = None

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[LedgerTransaction]:
        if self._open is not None:
            yield self._open
            return
        with self.ledger.transaction() as tx:
            yield tx

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run several commands in one transaction (bulk loads, demos, benchmarks)."""
        with self.ledger.transaction() as tx:
            self._open = tx
            try:
                yield
            finally:
                self._open = None

    def _now(self) -> datetime:
        return self.ledger.clock().astimezone(UTC)

    @staticmethod
    def _application(conn: Connection, application_id: str) -> Any:
        row = conn.execute(select(t.applications)
                           .where(t.applications.c.application_id == application_id)).first()
        if row is None:
            raise NotFoundError(f"application {application_id} not found")
        return row

    @staticmethod
    def _user(conn: Connection, user_id: str) -> Any:
        row = conn.execute(select(t.users).where(t.users.c.user_id == user_id)).first()
        if row is None:
            raise PermissionDenied(f"{user_id} is not a registered platform user")
        return row

    @staticmethod
    def _roles(conn: Connection, user_id: str) -> set[str]:
        return set(conn.execute(select(t.roles.c.role).where(t.roles.c.user_id == user_id))
                   .scalars())

    def _require_role(self, conn: Connection, actor: str, roles: tuple[Role, ...],
                      what: str) -> None:
        if not self._roles(conn, actor) & {r.value for r in roles}:
            needed = " or ".join(r.value for r in roles)
            raise PermissionDenied(f"{what}: {actor} needs the role {needed}")

    @staticmethod
    def _team(conn: Connection, application_id: str) -> list[str]:
        return list(conn.execute(select(t.team.c.user_id)
                                 .where(t.team.c.application_id == application_id)).scalars())

    def _check_conflict(self, conn: Connection, actor: str, app: Any, what: str) -> None:
        """Refuse ``actor`` if they or their institution are on the application's side."""
        members = self._team(conn, app.application_id)
        if actor == app.applicant or actor in members:
            raise PermissionDenied(f"{what}: conflict of interest: {actor} is on the team of "
                                   f"{app.application_id}")
        institution = self._user(conn, actor).institution
        sides = {app.institution} | set(conn.execute(
            select(t.users.c.institution).where(t.users.c.user_id.in_(members))).scalars())
        if institution in sides:
            raise PermissionDenied(f"{what}: conflict of interest: {actor} belongs to "
                                   f"{institution}, an institution of {app.application_id}")

    @staticmethod
    def _require_status(app: Any, allowed: tuple[Status, ...], what: str) -> None:
        if app.status not in {s.value for s in allowed}:
            decided = (f" (decided by {app.decided_by} at {app.decided_at})"
                       if app.decided_by else "")
            raise ConflictError(f"{what}: {app.application_id} is {app.status}{decided}; "
                                f"needs {' or '.join(s.value for s in allowed)}")

    # --- users, roles, datasets ---------------------------------------------------------------

    def bootstrap_admin(self, actor: str, *, institution: str, name: str = "") -> None:
        """Make ``actor`` the first admin; refused once any admin exists."""
        with self._tx() as tx:
            if tx.conn.execute(select(t.roles.c.user_id)
                               .where(t.roles.c.role == Role.ADMIN.value)).first():
                raise PermissionDenied("bootstrap: the platform already has an admin")
            if tx.conn.execute(select(t.users.c.user_id)
                               .where(t.users.c.user_id == actor)).first() is None:
                tx.append("platform.user.registered", {"user_id": actor, "institution": institution,
                                                       "name": name or actor}, actor=actor)
            tx.append("platform.role.granted", {"user_id": actor, "role": Role.ADMIN.value},
                      actor=actor)

    def register_user(self, actor: str, user_id: str, *, institution: str,
                      name: str = "") -> None:
        """Register a user of an institution (admin)."""
        if not user_id.strip() or not institution.strip():
            raise ValidationFailed("register user: user_id and institution must not be empty")
        with self._tx() as tx:
            self._require_role(tx.conn, actor, (Role.ADMIN,), f"register {user_id}")
            if tx.conn.execute(select(t.users.c.user_id)
                               .where(t.users.c.user_id == user_id)).first():
                raise ConflictError(f"register user: {user_id} is already registered")
            tx.append("platform.user.registered", {"user_id": user_id, "institution": institution,
                                                   "name": name or user_id}, actor=actor)

    def grant_role(self, actor: str, user_id: str, role: Role) -> None:
        """Give a registered user a platform role (admin)."""
        role = Role(role)
        with self._tx() as tx:
            self._require_role(tx.conn, actor, (Role.ADMIN,), f"grant {role.value}")
            self._user(tx.conn, user_id)
            if role.value in self._roles(tx.conn, user_id):
                raise ConflictError(f"grant role: {user_id} already has the role {role.value}")
            tx.append("platform.role.granted", {"user_id": user_id, "role": role.value},
                      actor=actor)

    def withdraw_role(self, actor: str, user_id: str, role: Role) -> None:
        """Take a platform role away (admin)."""
        role = Role(role)
        with self._tx() as tx:
            self._require_role(tx.conn, actor, (Role.ADMIN,), f"withdraw {role.value}")
            if role.value not in self._roles(tx.conn, user_id):
                raise ConflictError(f"withdraw role: {user_id} does not have the role "
                                    f"{role.value}")
            tx.append("platform.role.withdrawn", {"user_id": user_id, "role": role.value},
                      actor=actor)

    def tag_dataset(self, actor: str, tags: DatasetTags) -> None:
        """Record (or replace) the DUO tags of a dataset the platform offers (admin)."""
        with self._tx() as tx:
            self._require_role(tx.conn, actor, (Role.ADMIN,), f"tag {tags.dataset_id}")
            tx.append("platform.dataset.tagged", {"tags": tags.model_dump(mode="json")},
                      actor=actor)

    # --- applicant ----------------------------------------------------------------------------

    def create_draft(self, actor: str, form: ApplicationForm) -> str:
        """Start an application; returns its id (``APP-000001``, …)."""
        with self._tx() as tx:
            user = self._user(tx.conn, actor)
            n = tx.conn.execute(select(func.count()).select_from(t.applications)).scalar_one()
            application_id = f"APP-{n + 1:06d}"
            tx.append("application.drafted",
                      {"application_id": application_id, "institution": user.institution,
                       "form": form.model_dump(mode="json")},
                      actor=actor, stream=application_id)
        return application_id

    def _applicant_app(self, conn: Connection, actor: str, application_id: str,
                       what: str) -> Any:
        app = self._application(conn, application_id)
        if actor != app.applicant:
            raise PermissionDenied(f"{what}: only the applicant {app.applicant} may do this")
        return app

    def edit(self, actor: str, application_id: str, form: ApplicationForm) -> None:
        """Replace the form of a draft or returned application (applicant)."""
        with self._tx() as tx:
            app = self._applicant_app(tx.conn, actor, application_id, "edit")
            self._require_status(app, (Status.DRAFT, Status.RETURNED), "edit")
            tx.append("application.edited", {"application_id": application_id,
                                             "form": form.model_dump(mode="json")},
                      actor=actor, stream=application_id)

    def submit(self, actor: str, application_id: str) -> str:
        """Submit (or resubmit) an application; returns its project id (``GDE-2026-0001``)."""
        with self._tx() as tx:
            app = self._applicant_app(tx.conn, actor, application_id, "submit")
            self._require_status(app, (Status.DRAFT, Status.RETURNED), "submit")
            form = ApplicationForm.model_validate_json(app.form)
            check_submittable(form, application_id)
            for member in get_unregistered_members(tx.conn, form.team):
                raise ValidationFailed(f"{application_id}: team: {member} is not a "
                                       "registered platform user")
            project_id = app.project_id or self._next_project_id(tx.conn)
            tx.append("application.submitted",
                      {"application_id": application_id, "project_id": project_id,
                       "first": app.submitted_at is None,
                       "changed_fields": self._changed_fields(tx.conn, application_id, form)},
                      actor=actor, stream=application_id)
        return project_id

    def _next_project_id(self, conn: Connection) -> str:
        prefix = f"GDE-{self._now().year}-"
        n = conn.execute(select(func.count()).select_from(t.applications)
                         .where(t.applications.c.project_id.like(f"{prefix}%"))).scalar_one()
        return f"{prefix}{n + 1:04d}"

    @staticmethod
    def _changed_fields(conn: Connection, application_id: str,
                        form: ApplicationForm) -> list[str]:
        """Fields changed since the last submission (REMS highlights them for the handler)."""
        previous: dict[str, Any] | None = None
        last_form: dict[str, Any] | None = None
        rows = conn.execute(select(events_table.c.type, events_table.c.payload)
                            .where(events_table.c.stream == application_id)
                            .order_by(events_table.c.seq))
        for event_type, payload in rows:
            if event_type == "application.submitted":
                previous = last_form
            elif event_type in ("application.drafted", "application.edited"):
                last_form = json.loads(payload)["form"]
        if previous is None:
            return []
        now = form.model_dump(mode="json")
        return sorted(k for k in now if now[k] != previous.get(k))

    def add_result(self, actor: str, application_id: str, *, kind: ResultKind, title: str,
                   reference: str) -> None:
        """Report a result (publication, report, returned dataset, software) for the register.

        Idempotent: the same result (kind, title and reference) again is not recorded twice, so a
        rerun after a crash (the airlock's release killed after this call) adds no duplicate.
        """
        if not title.strip() or not reference.strip():
            raise ValidationFailed(f"{application_id}: result: title and reference (DOI or URL) "
                                   "are required")
        with self._tx() as tx:
            app = self._application(tx.conn, application_id)
            if actor not in self._team(tx.conn, application_id):
                raise PermissionDenied(f"add result: {actor} is not on the team of "
                                       f"{application_id}")
            self._require_status(app, (Status.APPROVED, Status.CLOSED, Status.EXPIRED,
                                       Status.REVOKED), "add result")
            results = t.results
            if tx.conn.execute(select(results.c.seq).where(
                    (results.c.application_id == application_id) & (results.c.kind == kind)
                    & (results.c.title == title.strip())
                    & (results.c.reference == reference.strip()))).first() is not None:
                return
            tx.append("application.result_added",
                      {"application_id": application_id, "kind": kind, "title": title.strip(),
                       "reference": reference.strip()}, actor=actor, stream=application_id)

    # --- handler ------------------------------------------------------------------------------

    def _staff_app(self, conn: Connection, actor: str, application_id: str,
                   roles: tuple[Role, ...], what: str) -> Any:
        app = self._application(conn, application_id)
        self._require_role(conn, actor, roles, f"{what} {application_id}")
        self._check_conflict(conn, actor, app, f"{what} {application_id}")
        return app

    def assign_handler(self, actor: str, application_id: str, handler: str | None = None) -> None:
        """Assign ``handler`` (default: the actor) and start the review."""
        handler = handler or actor
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,), "assign")
            if handler != actor:
                self._require_role(tx.conn, handler, (Role.HANDLER,), f"assign {application_id}")
                self._check_conflict(tx.conn, handler, app, f"assign {application_id}")
            self._require_status(app, (Status.SUBMITTED, Status.UNDER_REVIEW), "assign")
            tx.append("application.handler_assigned",
                      {"application_id": application_id, "handler": handler},
                      actor=actor, stream=application_id)

    def return_application(self, actor: str, application_id: str, reason: str) -> None:
        """Send the application back to the applicant for changes (reason required)."""
        reason = _require_reason(reason, application_id, "return")
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,), "return")
            self._require_status(app, (Status.SUBMITTED, Status.UNDER_REVIEW), "return")
            tx.append("application.returned", {"application_id": application_id,
                                               "reason": reason},
                      actor=actor, stream=application_id)

    def request_committee_review(self, actor: str, application_id: str, note: str = "") -> None:
        """Ask the scientific committee (§ 64e (9b)) to review and vote."""
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,),
                                  "request review of")
            self._require_status(app, (Status.UNDER_REVIEW,), "request review")
            if app.review_requested:
                raise ConflictError(f"request review: committee review of {application_id} "
                                    "was already requested")
            tx.append("application.review_requested",
                      {"application_id": application_id, "note": note.strip()},
                      actor=actor, stream=application_id)

    def attach_document(self, actor: str, application_id: str, kind: DocumentKind, name: str,
                        content: bytes) -> str:
        """Store a document of the case file with the application (the applicant, or a handler
        for what arrives by other ways); returns its sha256.

        The file is written to ``<home>/platform/attachments/<application>/<sha256[:16]>-<name>``
        before the event: a failed transaction leaves an unreferenced file, never a reference
        without its file.
        """
        if not name or Path(name).name != name or name.startswith("."):
            raise ValidationFailed(f"attach to {application_id}: name: a plain file name, "
                                   f"got {name!r}")
        digest = hashlib.sha256(content).hexdigest()
        with self._tx() as tx:
            app = self._application(tx.conn, application_id)
            if actor != app.applicant:
                self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,), "attach to")
            self._require_status(app, (Status.DRAFT, Status.SUBMITTED, Status.RETURNED,
                                       Status.UNDER_REVIEW), "attach a document")
            path = get_attachment_path(self.config, application_id, digest, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            tx.append("application.document_attached",
                      {"application_id": application_id, "kind": kind, "name": name,
                       "sha256": digest, "size": len(content)},
                      actor=actor, stream=application_id)
        return digest

    def attach_feasibility(self, actor: str, application_id: str, query: str,
                           nodes: dict[str, str], total: str) -> None:
        """The expected cohort size per node: a feasibility answer for the application's
        criteria (``query`` in words, ``nodes`` node → count as the data service gave it,
        suppressed), attached by the applicant or a handler."""
        with self._tx() as tx:
            app = self._application(tx.conn, application_id)
            if actor != app.applicant:
                self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,),
                                "attach feasibility to")
            tx.append("application.feasibility_attached",
                      {"application_id": application_id, "query": query,
                       "nodes": [{"node": n, "count": c} for n, c in sorted(nodes.items())],
                       "total": total}, actor=actor, stream=application_id)

    def request_decision(self, actor: str, application_id: str, recommendation: str,
                         note: str) -> None:
        """The handler's recommendation (with its reasons) and the request to the deciders."""
        if recommendation not in ("approve", "reject"):
            raise ValidationFailed(f"request decision on {application_id}: recommendation: "
                                   f"expected approve or reject, got {recommendation!r}")
        note = _require_reason(note, application_id, "request decision")
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,),
                                  "request a decision on")
            self._require_status(app, (Status.UNDER_REVIEW,), "request a decision")
            tx.append("application.decision_requested",
                      {"application_id": application_id, "recommendation": recommendation,
                       "note": note}, actor=actor, stream=application_id)

    def comment_to_applicant(self, actor: str, application_id: str, comment: str) -> None:
        """A handler's comment to the applicant (a question, a missing document)."""
        comment = _require_reason(comment, application_id, "comment")
        with self._tx() as tx:
            self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,), "comment on")
            tx.append("application.commented", {"application_id": application_id,
                                                "comment": comment},
                      actor=actor, stream=application_id)

    # --- committee ----------------------------------------------------------------------------

    def record_vote(self, actor: str, application_id: str, vote: Vote, comment: str = "") -> None:
        """A committee member's vote; a vote to reject needs a comment."""
        if vote not in ("approve", "reject", "abstain"):
            raise ValidationFailed(f"{application_id}: vote: expected approve, reject or abstain, "
                                   f"got {vote!r}")
        if vote == "reject":
            comment = _require_reason(comment, application_id, "a vote to reject")
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.COMMITTEE,), "vote on")
            self._require_status(app, (Status.UNDER_REVIEW,), "vote")
            if not app.review_requested:
                raise ConflictError(f"vote: no committee review of {application_id} was requested")
            if tx.conn.execute(select(t.votes.c.vote).where(
                    t.votes.c.application_id == application_id,
                    t.votes.c.voter == actor)).first():
                raise ConflictError(f"vote: {actor} has already voted on {application_id}")
            tx.append("application.vote_recorded",
                      {"application_id": application_id, "vote": vote,
                       "comment": comment.strip()}, actor=actor, stream=application_id)

    # --- decider ------------------------------------------------------------------------------

    @staticmethod
    def _dataset_decisions(conn: Connection, application_id: str) -> dict[str, str]:
        """dataset id → the latest decision on it."""
        rows = conn.execute(select(t.history.c.detail)
                            .where(t.history.c.application_id == application_id,
                                   t.history.c.type == "dataset_decided")
                            .order_by(t.history.c.seq)).scalars()
        return {d["dataset_id"]: d["decision"] for d in map(json.loads, rows)}

    def decide_dataset(self, actor: str, application_id: str, dataset_id: str, decision: str,
                       reason: str) -> None:
        """A decider's decision on one dataset of a requested data category (a later one
        replaces it); the approval then grants only categories with a dataset not rejected."""
        if decision not in ("approve", "reject"):
            raise ValidationFailed(f"decide {dataset_id} for {application_id}: decision: "
                                   f"expected approve or reject, got {decision!r}")
        reason = _require_reason(reason, application_id, "a dataset decision")
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.DECIDER,),
                                  f"decide {dataset_id} for")
            self._require_status(app, (Status.UNDER_REVIEW,), "decide a dataset")
            form = ApplicationForm.model_validate_json(app.form)
            offered = self._requested_datasets(tx.conn, form)
            if dataset_id not in offered:
                known = ", ".join(sorted(offered)) or "none"
                raise NotFoundError(f"decide for {application_id}: dataset {dataset_id!r} is not "
                                    f"requested (requested: {known})")
            tx.append("application.dataset_decided",
                      {"application_id": application_id, "dataset_id": dataset_id,
                       "decision": decision, "reason": reason},
                      actor=actor, stream=application_id)

    @staticmethod
    def _requested_datasets(conn: Connection, form: ApplicationForm) -> dict[str, str]:
        """The tagged datasets of the form's data categories: dataset id → data category."""
        tags = [json.loads(r) for r in conn.execute(select(t.datasets.c.tags)).scalars()]
        return {d["dataset_id"]: d["data_category"] for d in tags
                if d["data_category"] in form.data_categories}

    def approve(self, actor: str, application_id: str, *, valid_from: date | None = None,
                valid_until: date | None = None, note: str = "",
                duo_override_reason: str | None = None) -> SignedDocument:
        """Approve: sign the grant, give the team entitlements until ``valid_until``.

        ``valid_from`` defaults to today (the clock's date), ``valid_until`` to ``valid_from``
        plus the requested duration. A requested committee review needs its quorum of votes,
        and a DUO mismatch needs ``duo_override_reason``
        (:mod:`~genomlab.platform.applications.decision_rules`).
        """
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.DECIDER,), "approve")
            self._require_status(app, (Status.UNDER_REVIEW,), "approve")
            form = ApplicationForm.model_validate_json(app.form)
            votes = count_committee_votes(tx.conn, application_id)
            check_committee_quorum(application_id, review_requested=app.review_requested,
                                   votes=votes, quorum=self.config.review.committee_quorum)
            override = check_duo_override(application_id, get_blocking_verdicts(
                tx.conn, form, self._dataset_decisions(tx.conn, application_id)),
                duo_override_reason)
            now = self._now()
            start = valid_from or now.date()
            end = valid_until or add_months(start, form.duration_months) - timedelta(days=1)
            if end < start:
                raise ValidationFailed(f"{application_id}: valid_until: {end} is before "
                                       f"valid_from {start}")
            categories = self._granted_categories(tx.conn, application_id, form)
            grant = ApprovalGrant(
                application_id=application_id, project_id=app.project_id, title=form.title,
                purposes=form.purposes, duo_codes=(form.duo_permission, *form.duo_modifiers),
                level=form.level, data_categories=categories,
                clinical_fields=form.clinical_fields if "clinical" in categories else (),
                criteria=form.criteria,
                team=tuple(self._team(tx.conn, application_id)), valid_from=start,
                valid_until=end, issued_at=now.isoformat(timespec="seconds"))
            document = sign_document(APPROVAL_KIND, grant.model_dump(mode="json"),
                                     Institution(self.config, "platform").keys()
                                     .signing_key(APPROVAL_KEY))
            tx.append("application.approved",
                      {"application_id": application_id, "project_id": app.project_id,
                       "valid_from": start.isoformat(), "valid_until": end.isoformat(),
                       "note": note.strip(), "approval": document.model_dump(mode="json"),
                       **({"committee_votes": votes} if app.review_requested else {}),
                       **({"duo_override_reason": override} if override else {})},
                      actor=actor, stream=application_id)
        return document

    def _granted_categories(self, conn: Connection, application_id: str,
                            form: ApplicationForm) -> Any:
        """The form's data categories less those whose every dataset a decider rejected."""
        decisions = self._dataset_decisions(conn, application_id)
        datasets = self._requested_datasets(conn, form)
        refused = {c for c in form.data_categories
                   if (ids := [d for d, cat in datasets.items() if cat == c])
                   and all(decisions.get(d) == "reject" for d in ids)}
        categories = tuple(c for c in form.data_categories if c not in refused)
        if not categories:
            raise ValidationFailed(f"approve {application_id}: every requested dataset was "
                                   "rejected; reject the application instead")
        return categories

    def reject(self, actor: str, application_id: str, reason: str) -> None:
        """Reject (reason required)."""
        reason = _require_reason(reason, application_id, "reject")
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.DECIDER,), "reject")
            self._require_status(app, (Status.SUBMITTED, Status.UNDER_REVIEW), "reject")
            tx.append("application.rejected", {"application_id": application_id,
                                               "reason": reason},
                      actor=actor, stream=application_id)

    def _end(self, tx: LedgerTransaction, app: Any, event_type: str, actor: str,
             reason: str | None) -> None:
        payload: dict[str, Any] = {"application_id": app.application_id}
        if reason is not None:
            payload["reason"] = reason
        if app.status == Status.APPROVED.value:
            body = {"application_id": app.application_id, "project_id": app.project_id,
                    "revoked_at": self._now().isoformat(timespec="seconds")}
            key = Institution(self.config, "platform").keys().signing_key(APPROVAL_KEY)
            payload["revocation"] = sign_document(REVOCATION_KIND, body, key).model_dump()
        tx.append(event_type, payload, actor=actor, stream=app.application_id)

    def close(self, actor: str, application_id: str, reason: str) -> None:
        """Close: the applicant withdraws, or a handler ends an approved project early."""
        reason = _require_reason(reason, application_id, "close")
        with self._tx() as tx:
            app = self._application(tx.conn, application_id)
            if actor != app.applicant:
                self._staff_app(tx.conn, actor, application_id, (Role.HANDLER,), "close")
            self._require_status(app, (Status.DRAFT, Status.SUBMITTED, Status.RETURNED,
                                       Status.UNDER_REVIEW, Status.APPROVED), "close")
            self._end(tx, app, "application.closed", actor, reason)

    def revoke(self, actor: str, application_id: str, reason: str) -> None:
        """Revoke an approval (breach of § 64e (11b) duties): entitlements end at once."""
        reason = _require_reason(reason, application_id, "revoke")
        with self._tx() as tx:
            app = self._staff_app(tx.conn, actor, application_id, (Role.DECIDER, Role.ADMIN),
                                  "revoke")
            self._require_status(app, (Status.APPROVED,), "revoke")
            self._end(tx, app, "application.revoked", actor, reason)

    def expire_due(self, at: datetime | None = None) -> list[str]:
        """Expire every approved application whose ``valid_until`` lies before ``at``'s date."""
        today = (at or self._now()).date().isoformat()
        with self._tx() as tx:
            due = tx.conn.execute(select(t.applications).where(
                t.applications.c.status == Status.APPROVED.value,
                t.applications.c.valid_until < today)
                .order_by(t.applications.c.application_id)).all()
            for app in due:
                self._end(tx, app, "application.expired", EXPIRER, None)
        return [app.application_id for app in due]

    def resign_approvals(self, actor: str) -> list[ResignedApproval]:
        """Sign every approval in force again, unchanged, with the current approval key,
        after a recorded rotation of that key (``key.rotated`` in this ledger).

        An approval is in force when its application is ``approved`` and its ``valid_until``
        is not past (the clock's date); revoked, closed and expired ones stay as they are (and
        refused). Only a document signed by a key that the recorded rotations replaced on the
        way to the current key is signed again (one ``approval.resigned`` event each, stream
        the application); one signed with the current key already is left, so a run stopped
        half-way is completed by the next one. One transaction.

        Raises
        ------
        PermissionDenied
            The approval key file is not the key the latest recorded rotation names (a swapped
            pair, not a recorded decision): nothing is signed with it.
        """
        from genomlab.trusted_keys import compute_fingerprint

        key = Institution(self.config, "platform").keys().signing_key(APPROVAL_KEY)
        current = compute_fingerprint(key.public_key())
        with self._tx() as tx:
            replaced = _get_replaced_fingerprints(tx.conn, APPROVAL_KEY, current)
            today = self._now().date().isoformat()
            apps = tx.conn.execute(select(t.applications).where(
                t.applications.c.status == Status.APPROVED.value,
                t.applications.c.valid_until >= today)
                .order_by(t.applications.c.application_id)).all()
            done = []
            for app in apps:
                old = SignedDocument.model_validate(json.loads(app.approval))
                old_fingerprint = replaced.get(old.key_id)
                if old_fingerprint is None:
                    continue  # signed with the current key, or not by a replaced one: left
                document = sign_document(APPROVAL_KIND, old.body, key)
                digest = compute_document_digest(document)
                tx.append(RESIGNED_EVENT, {
                    "application_id": app.application_id, "project_id": app.project_id,
                    "old_fingerprint": old_fingerprint, "new_fingerprint": current,
                    "old_digest": compute_document_digest(old), "approval_digest": digest,
                    "approval": document.model_dump(mode="json")},
                    actor=actor, stream=app.application_id)
                done.append(ResignedApproval(app.application_id, app.project_id,
                                             old_fingerprint, current, digest))
        return done


@dataclass(frozen=True)
class ResignedApproval:
    """One approval signed again: ``approval_digest`` names the new document."""

    application_id: str
    project_id: str
    old_fingerprint: str
    new_fingerprint: str
    approval_digest: str


def _get_replaced_fingerprints(conn: Connection, key: str, current: str) -> dict[str, str]:
    """key id -> fingerprint of every key that the recorded rotations of ``key`` replaced on
    their way to ``current``; PermissionDenied unless the latest rotation names ``current``
    (an approval key never rotated has replaced nothing)."""
    rotations = [json.loads(p) for p in conn.execute(
        select(events_table.c.payload).where(events_table.c.type == KEY_ROTATED_EVENT)
        .order_by(events_table.c.seq)).scalars()]
    rotations = [r for r in rotations if r.get("key") == key]
    if not rotations:
        return {}
    if rotations[-1]["new_fingerprint"] != current:
        raise PermissionDenied(
            f"platform/keys/{key}.ed25519.pem: the approval key ({current}) is not the key of "
            f"the latest recorded rotation ({rotations[-1]['new_fingerprint']}); refusing to "
            "sign approvals with it (rotate it with `genomlab ledger rotate-key`)")
    back = {r["new_fingerprint"]: r["old_fingerprint"] for r in rotations}
    replaced: dict[str, str] = {}
    fingerprint = current
    while fingerprint in back and back[fingerprint] not in replaced.values():
        fingerprint = back[fingerprint]
        if fingerprint == current:
            break
        replaced[fingerprint.removeprefix("sha256:")[:16]] = fingerprint
    return replaced
