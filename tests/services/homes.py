"""Homes the service tests share: what a service's module fixture puts into its home before
the services start (used by the service's own tests and by the crash tests)."""

from __future__ import annotations

from genomlab.airlock.requests import get_outputs_dir
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.access_tokens import TOKEN_KEY
from tests.platform.conftest import approve_application
from tests.services.people import person_credentials, save_service_client

AIRLOCK_CLIENT_NODE = "AIRLOCK"
"""The airlock's platform client: a node of kind ``airlock`` (scopes ``status:read
projects:read register:write``): people, team membership and the register, all asked of the
platform service."""
BY_SEX = "sex,n\nF,60\nM,55\n"
BY_AGE = "age,n\n<50,40\n>=50,75\n"


def prepare_airlock_home(config: GenomlabConfig) -> str:
    """An approved project (``alice`` applied, ``tom`` on her team, ``hanna`` and ``ute``
    output checkers) with two outputs, the airlock's own platform client, people's credentials
    and the platform's token key; the project id."""
    project, _ = approve_application(config)
    outputs = get_outputs_dir(config, project)
    outputs.mkdir(parents=True)
    (outputs / "by_sex.csv").write_text(BY_SEX)
    (outputs / "by_age.csv").write_text(BY_AGE)
    save_service_client(config, "airlock", AIRLOCK_CLIENT_NODE)
    for user in ("alice", "bob", "hanna", "ute"):
        person_credentials(config, user)  # issued before any "nothing changed" comparison
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)  # the platform's token key
    return project
