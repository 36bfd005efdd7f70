"""Hub groups from the platform's role records: the platform stays the source of truth.

Group names (JupyterHub allows ``[a-zA-Z0-9_.-]``-like names; genomlab uses these):

========================  ========================================================
``handler``               platform role ``handler``
``committee``             platform role ``committee`` (committee member)
``decider``               platform role ``decider``
``output-checker``        platform role ``output_checker``
``platform-admin``        platform role ``admin``
``researcher``            everyone with an active entitlement to at least one project
``project-<GDE-…>``       the researchers of one project (active entitlements now)
``trust-centre-officer``  officers appointed in the trust centre's store (when it exists)
========================  ========================================================

Every group is listed, empty or not, so that a sync also *removes* people whose role was
withdrawn. A person who is in the platform but has no OS account cannot sign in (PAM); the
groups name platform user ids, which are the hub user names.
"""

from __future__ import annotations

import pwd
from datetime import datetime

from sqlalchemy import or_, select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.models import Role
from genomlab.platform.applications.store import read_platform

ROLE_GROUPS: dict[str, str] = {
    Role.HANDLER.value: "handler",
    Role.COMMITTEE.value: "committee",
    Role.DECIDER.value: "decider",
    Role.OUTPUT_CHECKER.value: "output-checker",
    Role.ADMIN.value: "platform-admin",
}
"""Platform role → hub group."""
RESEARCHER_GROUP = "researcher"
PROJECT_GROUP_PREFIX = "project-"
OFFICER_GROUP = "trust-centre-officer"


def _trust_centre_officers(config: GenomlabConfig) -> list[str]:
    """Officers of the trust centre's store, read-only; none when this home has no trust
    centre (a separated deployment syncs them where the trust centre's store is readable)."""
    from genomlab.trust_center.store import officers

    institution = Institution(config, "trust_center")
    if config.stores is None and not institution.directory.exists():
        return []
    try:
        with institution.engine().connect() as conn:
            return sorted(conn.execute(select(officers.c.officer)).scalars())
    except Exception:
        return []


def get_hub_groups(config: GenomlabConfig, at: datetime | None = None) -> dict[str, list[str]]:
    """Every hub group and its members (sorted) from the platform's records at ``at`` (now).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> demo = run_applications_demo(config)
    >>> groups = get_hub_groups(config)
    >>> groups["decider"], groups["researcher"], groups[f"project-{demo.project_id}"]
    (['dora'], ['alice', 'tom'], ['alice', 'tom'])
    >>> get_hub_groups(config, at=datetime(2100, 1, 1, tzinfo=UTC))["researcher"]  # expired
    []
    """
    instant = at or clock.now()
    day = instant.date().isoformat()
    e = t.entitlements
    groups: dict[str, set[str]] = {group: set() for group in ROLE_GROUPS.values()}
    groups[RESEARCHER_GROUP] = set()
    with read_platform(config) as conn:
        for user_id, role in conn.execute(select(t.roles.c.user_id, t.roles.c.role)):
            if role in ROLE_GROUPS:
                groups[ROLE_GROUPS[role]].add(user_id)
        for project_id in conn.execute(select(e.c.project_id).distinct()).scalars():
            groups[PROJECT_GROUP_PREFIX + project_id] = set()
        active = conn.execute(
            select(e.c.user_id, e.c.project_id).where(
                e.c.valid_from <= day,
                e.c.valid_until >= day,
                or_(
                    e.c.ended_at.is_(None),
                    e.c.ended_at > instant.isoformat(timespec="microseconds"),
                ),
            )
        )
        for user_id, project_id in active:
            groups[RESEARCHER_GROUP].add(user_id)
            groups[PROJECT_GROUP_PREFIX + project_id].add(user_id)
    groups[OFFICER_GROUP] = set(_trust_centre_officers(config))
    return {name: sorted(members) for name, members in sorted(groups.items())}


def get_platform_users(config: GenomlabConfig) -> list[str]:
    """Every registered platform user id: who may sign in to the hub (with an OS account)."""
    with read_platform(config) as conn:
        return sorted(conn.execute(select(t.users.c.user_id)).scalars())


def has_os_account(user_id: str) -> bool:
    """Whether this machine has an OS account named ``user_id`` (PAM can sign them in)."""
    try:
        pwd.getpwnam(user_id)
    except KeyError:
        return False
    return True


def get_hub_people(config: GenomlabConfig) -> tuple[set[str], dict[str, list[str]]]:
    """The hub's allowed users (platform users with an OS account here) and its groups
    restricted to them: what the hub loads when it starts."""
    people = {user for user in get_platform_users(config) if has_os_account(user)}
    groups = {
        name: [u for u in members if u in people]
        for name, members in get_hub_groups(config).items()
    }
    return people, groups
