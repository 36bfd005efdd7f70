"""The demo step the lead's ``genomlab demo`` calls."""

from __future__ import annotations

from genomlab.config import GenomlabConfig
from genomlab.keys import load_public_key
from genomlab.messages import APPROVAL_KIND, verify_document
from genomlab.platform.applications import (
    get_approval_public_key_path,
    get_signed_approval,
    is_entitled,
)
from genomlab.platform.applications.demo import run_applications_demo


def test_run_applications_demo__approves_once_and_is_idempotent(config: GenomlabConfig) -> None:
    first = run_applications_demo(config)
    second = run_applications_demo(config)
    assert first == second
    with open(get_approval_public_key_path(config), "rb") as handle:
        key = load_public_key(handle.read())
    body = verify_document(get_signed_approval(config, first.application_id), key,
                           kind=APPROVAL_KIND)
    assert body["project_id"] == first.project_id
    assert all(is_entitled(config, user, first.project_id) for user in first.team)


def test_ensure_embedded_credentials__demo_people_get_0600_files_once(
        config: GenomlabConfig) -> None:
    import stat

    from click.testing import CliRunner

    from genomlab.cli import main
    from genomlab.platform.applications.demo import DEMO_STAFF, DEMO_TEAM
    from genomlab.platform.person_credentials import (
        ensure_embedded_credentials,
        list_person_credentials,
    )

    demo = run_applications_demo(config)
    people = [*DEMO_STAFF, *DEMO_TEAM]
    paths = ensure_embedded_credentials(config, people, actor="operator:demo")
    again = ensure_embedded_credentials(config, people, actor="operator:demo")
    assert paths == again
    assert [p.parent.name for p in paths] == people
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths} == {0o600}
    assert len(list_person_credentials(config)) == len(people)  # the second call issued none
    env = {"GENOMLAB_HOME": str(config.home), "GENOMLAB_CREDENTIALS": str(paths[-2])}  # alice
    refused = CliRunner().invoke(main, ["platform", "review", "revoke", demo.application_id,
                                        "--reason", "testing the refusal"], env=env)
    assert refused.exit_code == 1
    assert "alice needs the role decider or admin" in refused.output
