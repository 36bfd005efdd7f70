"""People's credentials files for tests of in-process paths (issue 15): who acts is the
verified subject of a credentials file, never a name in ``--user`` or the environment."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from genomlab.config import GenomlabConfig


def credentials_for(config: GenomlabConfig, user: str, *, institution: str = "Test") -> Path:
    """``user``'s credentials file in the embedded default place (``<home>/people/<user>/``),
    registering ``user`` at the platform first if needed (by its admin, else a test admin) and
    issuing the credential as the platform's operator does (``users issue-credential``)."""
    from genomlab.platform.applications import projection as t
    from genomlab.platform.applications.entitlements import get_user_institution
    from genomlab.platform.applications.workflow import Workflow
    from genomlab.platform.person_credentials import (
        PersonCredentials,
        get_embedded_credentials_path,
        issue_person_credential,
        save_person_credentials,
    )

    path = get_embedded_credentials_path(config, user)
    if path.exists():
        return path
    if get_user_institution(config, user) is None:
        workflow = Workflow(config)
        with workflow.ledger.engine.connect() as conn:
            admin = conn.execute(
                select(t.roles.c.user_id).where(t.roles.c.role == "admin")
            ).scalar()
        if admin is None:
            admin = "test-admin"
            workflow.bootstrap_admin(admin, institution="BfArM")
        workflow.register_user(admin, user, institution=institution)
    issued = issue_person_credential(config, user, actor="operator:test", replace=True)
    save_person_credentials(path, PersonCredentials(issued.client_id, issued.client_secret, user))
    return path
