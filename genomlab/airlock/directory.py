"""Who may ask for a release and who may check one: the airlock's view of the platform.

:class:`AirlockDirectory` is what the airlock needs to know about people and projects;
:class:`PlatformDirectory` answers from the platform's applications (teams, entitlements, roles)
and records each release as a result in the project's register entry.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import projection as platform_tables
from genomlab.platform.applications.entitlements import get_user_roles, is_entitled
from genomlab.platform.applications.models import Role
from genomlab.platform.applications.store import read_platform
from genomlab.platform.applications.workflow import Workflow

#: Platform roles whose holders check outputs: the platform's output checkers (a role granted
#: as an event, like every other; the Genomics England / OpenSAFELY airlock staff role).
CHECKER_ROLES: tuple[Role, ...] = (Role.OUTPUT_CHECKER,)


class AirlockDirectory(Protocol):
    """People and projects, as the airlock needs them."""

    def is_team_member(self, user: str, project: str) -> bool:
        """Whether ``user`` is on the project's team with an active entitlement now."""
        ...

    def is_output_checker(self, user: str) -> bool:
        """Whether ``user`` may review release requests."""
        ...

    def record_release(self, project: str, author: str, title: str, reference: str) -> str | None:
        """Record a release in the project's register entry; the entry's id, if any."""
        ...


class PlatformDirectory:
    """:class:`AirlockDirectory` backed by the platform's applications store.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> d = PlatformDirectory(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    >>> d.is_team_member("alice", "GDE-2026-0001"), d.is_output_checker("alice")
    (False, False)
    """

    def __init__(self, config: GenomlabConfig,
                 checker_roles: tuple[Role, ...] = CHECKER_ROLES) -> None:
        self.config = config
        self.checker_roles = checker_roles

    def is_team_member(self, user: str, project: str) -> bool:
        return is_entitled(self.config, user, project)

    def is_output_checker(self, user: str) -> bool:
        return bool(get_user_roles(self.config, user) & set(self.checker_roles))

    def get_application_id(self, project: str) -> str | None:
        """The application behind a project id, or ``None``."""
        apps = platform_tables.applications
        with read_platform(self.config) as conn:
            return conn.execute(select(apps.c.application_id)
                                .where(apps.c.project_id == project)).scalar()

    def record_release(self, project: str, author: str, title: str, reference: str) -> str | None:
        application_id = self.get_application_id(project)
        if application_id is None:
            return None
        Workflow(self.config).add_result(author, application_id, kind="report", title=title,
                                         reference=reference)
        return application_id
