"""What other institutions ask the platform: signed approvals, entitlements, teams and roles.

The trust centre and the data service verify :func:`get_signed_approval` with the public key at
``<home>/platform/keys/approval.pub.pem`` (:func:`get_approval_public_key_path`); the workspace
and the airlock call :func:`is_entitled` before every load or release. An entitlement is active
at time ``at`` when ``valid_from <= at.date() <= valid_until`` and it has not ended (closed,
revoked or expired) at or before ``at``. Expiry needs no job to have run: the date check alone
ends access on the day after ``valid_until``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import or_, select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.institution import Institution
from genomlab.messages import SignedDocument, compute_document_digest
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.models import Role
from genomlab.platform.applications.store import APPROVAL_KEY, read_platform


@dataclass(frozen=True)
class Entitlement:
    """One user's right to one approved project's data."""

    application_id: str
    project_id: str
    user_id: str
    valid_from: date
    valid_until: date


def _instant(at: datetime | None) -> datetime:
    return (at or clock.now()).astimezone(UTC)


def get_signed_approval(config: GenomlabConfig, application_id: str) -> SignedDocument:
    """The signed ``approval`` document of an approved (or since ended) application.

    Raises
    ------
    NotFoundError
        The application does not exist or was never approved.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from genomlab.config import load_config
    >>> from genomlab.keys import load_public_key
    >>> from genomlab.messages import verify_document, APPROVAL_KIND
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> demo = run_applications_demo(config)
    >>> doc = get_signed_approval(config, demo.application_id)
    >>> key = load_public_key(Path(get_approval_public_key_path(config)).read_bytes())
    >>> verify_document(doc, key, kind=APPROVAL_KIND)["project_id"] == demo.project_id
    True
    """
    with read_platform(config) as conn:
        text = conn.execute(select(t.applications.c.approval)
                            .where(t.applications.c.application_id == application_id)).scalar()
    if text is None:
        raise NotFoundError(f"application {application_id} has no signed approval")
    return SignedDocument.model_validate(json.loads(text))


def get_signed_revocation(config: GenomlabConfig, application_id: str) -> SignedDocument | None:
    """The signed ``approval-revocation`` of an approval that was closed, revoked or expired."""
    with read_platform(config) as conn:
        text = conn.execute(select(t.applications.c.revocation)
                            .where(t.applications.c.application_id == application_id)).scalar()
    return None if text is None else SignedDocument.model_validate(json.loads(text))


def get_approval_status(config: GenomlabConfig, application_id: str) -> dict[str, str | None]:
    """What another service asks before acting on an approval: its status now and which signed
    approval is the current one (``approval_digest``, see
    :func:`genomlab.messages.compute_document_digest`); NotFoundError if never approved.
    """
    with read_platform(config) as conn:
        row = conn.execute(select(t.applications.c.project_id, t.applications.c.status,
                                  t.applications.c.approval)
                           .where(t.applications.c.application_id == application_id)).first()
    if row is None or row.approval is None:
        raise NotFoundError(f"application {application_id} has no signed approval")
    document = SignedDocument.model_validate(json.loads(row.approval))
    return {"application_id": application_id, "project_id": row.project_id,
            "status": row.status, "approval_digest": compute_document_digest(document)}


def get_approval_public_key_path(config: GenomlabConfig) -> str:
    """Where the public key that verifies approvals and revocations lies (PEM)."""
    return str(Institution(config, "platform").keys().public_key_path(APPROVAL_KEY))


def get_active_entitlements(config: GenomlabConfig, user: str,
                            at: datetime | None = None) -> list[Entitlement]:
    """The user's entitlements active at ``at`` (default: now), by project id.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> demo = run_applications_demo(config)
    >>> [e.project_id for e in get_active_entitlements(config, "alice")] == [demo.project_id]
    True
    >>> get_active_entitlements(config, "mallory")
    []
    """
    instant = _instant(at)
    day = instant.date().isoformat()
    e = t.entitlements
    query = (select(e).where(e.c.user_id == user, e.c.valid_from <= day, e.c.valid_until >= day,
                             or_(e.c.ended_at.is_(None),
                                 e.c.ended_at > instant.isoformat(timespec="microseconds")))
             .order_by(e.c.project_id))
    with read_platform(config) as conn:
        rows = conn.execute(query).all()
    return [Entitlement(r.application_id, r.project_id, r.user_id,
                        date.fromisoformat(r.valid_from), date.fromisoformat(r.valid_until))
            for r in rows]


def is_entitled(config: GenomlabConfig, user: str, project_id: str,
                at: datetime | None = None) -> bool:
    """Whether ``user`` may use the data of ``project_id`` at ``at`` (default: now)."""
    return any(x.project_id == project_id for x in get_active_entitlements(config, user, at))


def get_team(config: GenomlabConfig, project_id: str) -> tuple[str, ...]:
    """The authorised users of a project (applicant and team members), sorted."""
    with read_platform(config) as conn:
        application_id = conn.execute(select(t.applications.c.application_id)
                                      .where(t.applications.c.project_id == project_id)).scalar()
        if application_id is None:
            raise NotFoundError(f"project {project_id} not found")
        return tuple(sorted(conn.execute(select(t.team.c.user_id)
                                         .where(t.team.c.application_id == application_id))
                            .scalars()))


def get_user_roles(config: GenomlabConfig, user: str) -> frozenset[Role]:
    """The platform roles of ``user`` (empty for applicants and unknown users)."""
    with read_platform(config) as conn:
        return frozenset(Role(r) for r in conn.execute(
            select(t.roles.c.role).where(t.roles.c.user_id == user)).scalars())


def get_user_institution(config: GenomlabConfig, user: str) -> str | None:
    """The institution a registered user belongs to, or ``None``."""
    with read_platform(config) as conn:
        return conn.execute(select(t.users.c.institution)
                            .where(t.users.c.user_id == user)).scalar()
