"""Homes the service tests share: what a service's module fixture puts into its home before
the services start (used by the service's own tests and by the crash tests)."""

from __future__ import annotations

from pathlib import Path

from genomlab.airlock.requests import get_outputs_dir
from genomlab.clients.oauth import ClientCredentials, load_client_credentials
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


def prepare_data_service_home(config: GenomlabConfig) -> None:
    """The feasibility index of two hand-built KDKs (:mod:`tests.data_service.reported_nodes`,
    no Hail), the platform's users (``eve``, ``mallory`` and ``trudy`` besides
    :func:`tests.platform.conftest.populate`'s), the data service's own platform client, people's
    credentials and the platform's token key."""
    from genomlab.data_service.index import build_feasibility_index
    from genomlab.platform.applications.workflow import Workflow
    from tests.data_service.reported_nodes import INDEXED_ON, make_clinical_world
    from tests.platform.conftest import populate

    build_feasibility_index(config, [], make_clinical_world(), on=INDEXED_ON)
    wf = Workflow(config)
    populate(wf)
    for user in ("eve", "mallory", "trudy"):
        wf.register_user("root", user, institution="Uni Test", name=user.title())
    save_service_client(config, "data_service", "DSTEST01")
    for user in ("eve", "mallory", "trudy", "bob", "tom"):
        person_credentials(config, user)
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)  # the platform's token key


def prepare_grz_home(config: GenomlabConfig, grz: str, world: Path) -> ClientCredentials:
    """``world``'s nodes approved, its TANs and consents registered, the trust centre's own
    platform client (``VSTRKI``) and GRZ ``grz``'s, the platform's token key; the GRZ's client."""
    from click.testing import CliRunner

    from genomlab.cli import main
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
    )
    from genomlab.platform.nodes import NodeRegistry

    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    NodeRegistry(config).ensure_approved("VSTRKI", name="RKI", actor="bfarm-op")
    for node_id in ("VSTRKI", grz):
        saved = CliRunner().invoke(
            main,
            ["platform", "nodes", "issue-client", node_id, "--save"],
            env={"GENOMLAB_HOME": str(config.home)},
        )
        assert saved.exit_code == 0, saved.output
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)
    folder = Institution(config, "grz", grz).directory
    return load_client_credentials(folder / "platform-client.json")
