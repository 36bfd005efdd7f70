"""What the dashboards read behind the hub, through the platform and airlock services.

One home for the module (:func:`tests.services.homes.prepare_airlock_home`: ``alice`` applied
for an approved project with ``tom`` on her team; ``dora`` decides, ``hanna`` and ``ute`` check
outputs) plus ``bob``'s application under review and ``alice``'s release request; real ``genomlab
serve platform`` and ``genomlab serve airlock`` subprocesses. Each person calls with their own
person credential (:mod:`tests.services.people`), as the dashboards in their servers do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from genomlab.airlock.requests import request_detail_from_json
from genomlab.clients.airlock import AirlockClient
from genomlab.clients.platform import PlatformPersonClient
from genomlab.config import GenomlabConfig
from genomlab.errors import PermissionDenied
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.models import Role
from genomlab.platform.applications.queries import get_application_detail, get_queue_page
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.platform.conftest import make_form
from tests.services.homes import BY_SEX, prepare_airlock_home
from tests.services.people import person_credentials, person_tokens

ALL = ("draft", "submitted", "returned", "under_review", "approved", "rejected", "closed",
       "revoked", "expired")


@dataclass(frozen=True)
class Home:
    config: GenomlabConfig
    project: str
    alices: str  # alice's approved application
    bobs: str  # bob's application under review (another project)
    request_id: str  # alice's release request of by_sex.csv

    def platform(self, user: str) -> PlatformPersonClient:
        return PlatformPersonClient(self.config, person_credentials(self.config, user))

    def airlock(self, user: str) -> AirlockClient:
        return AirlockClient(self.config, person_tokens(self.config, user))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    base = tmp_path_factory.mktemp("dashboard-reads")
    config = config_for(base / "home")
    project = prepare_airlock_home(config)
    wf = Workflow(config)
    [alices] = [r["application_id"] for r in get_queue_page(config, statuses=ALL).rows]
    bobs = wf.create_draft("bob", make_form(title="Bob's cohort", team=()))
    wf.submit("bob", bobs)
    wf.assign_handler("hanna", bobs)
    for user in ("dora", "tom"):
        person_credentials(config, user)
    env = {"PYTHONPATH": str(REPO)}
    with (
        running_service(config, "platform", log=base / "platform.log", env=env),
        running_service(config, "airlock", log=base / "airlock.log", env=env),
    ):
        request_id = AirlockClient(config, person_tokens(config, "alice")).submit_request(
            project, ["by_sex.csv"])
        yield Home(config, project, alices, bobs, request_id)


def test_get_queue_page__decider_reads_every_application_as_the_store_has_it(home: Home) -> None:
    page = home.platform("dora").get_queue_page(statuses=ALL, offset=0, limit=1)
    assert (page.total, page.offset, page.limit) == (2, 0, 1)
    store = get_queue_page(home.config, statuses=ALL, limit=1)
    assert [r["application_id"] for r in page.rows] == [r["application_id"] for r in store.rows]
    searched = home.platform("dora").get_queue_page(statuses=ALL, search="Bob's")
    assert [r["application_id"] for r in searched.rows] == [home.bobs]


def test_get_application_detail__decider_reads_detail_actions_and_earlier_projects(
    home: Home,
) -> None:
    dora = home.platform("dora")
    detail = dora.get_application_detail(home.bobs)
    assert detail == get_application_detail(home.config, home.bobs)  # the same dataclass
    assert {v.subject for v in detail.verdicts} >= {"research-consent"}
    assert [h["type"] for h in detail.history][:2] == ["drafted", "submitted"]
    assert dora.get_allowed_actions(home.bobs) == ["approve", "reject"]
    assert dora.get_allowed_actions(home.alices) == ["revoke"]
    assert dora.get_earlier_projects(home.bobs) == []
    assert dora.get_user_roles() == frozenset({Role.DECIDER})


def test_get_queue_page__researcher_refused_the_queue_but_sees_their_own(home: Home) -> None:
    alice = home.platform("alice")
    with pytest.raises(PermissionDenied, match=r"HTTP 403.*alice needs the role"):
        alice.get_queue_page(statuses=ALL)
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        alice.get_queue_page(statuses=ALL, applicant="bob")
    own = alice.get_queue_page(statuses=ALL, applicant="alice")
    assert [r["application_id"] for r in own.rows] == [home.alices]


def test_get_application_detail__researcher_refused_another_project_s_application(
    home: Home,
) -> None:
    alice = home.platform("alice")
    for read in (alice.get_application_detail, alice.get_allowed_actions,
                 alice.get_earlier_projects):
        with pytest.raises(PermissionDenied, match=f"HTTP 403.*{home.bobs}: alice is neither"):
            read(home.bobs)
    assert alice.get_application_detail(home.alices).row["applicant"] == "alice"
    assert home.platform("tom").get_application_detail(home.alices).row["project_id"] == (
        home.project)  # on the team


def test_get_queue__output_checker_reads_the_airlock_queue_and_the_request(home: Home) -> None:
    hanna = home.airlock("hanna")
    [row] = hanna.get_queue(statuses=("submitted", "partially_reviewed"))
    assert (row["request_id"], row["project"], row["author"]) == (
        home.request_id, home.project, "alice")
    answer = hanna.get_request_detail(home.request_id)
    assert answer["caller"] == {"user_id": "hanna", "output_checker": True, "on_team": False}
    detail = request_detail_from_json(answer)
    assert [f["name"] for f in detail.files] == ["by_sex.csv"]
    assert detail.files[0]["results"]  # the disclosure checks, as CheckResults
    assert hanna.get_snapshot_content(home.request_id, "by_sex.csv").decode() == BY_SEX


def test_get_queue__researcher_refused_the_airlock_queue_but_sees_their_project(
    home: Home,
) -> None:
    alice, bob = home.airlock("alice"), home.airlock("bob")
    with pytest.raises(PermissionDenied, match=r"HTTP 403.*alice is not an output checker"):
        alice.get_queue()
    assert [r["request_id"] for r in alice.get_queue(project=home.project)] == [home.request_id]
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        bob.get_queue(project=home.project)
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        bob.get_request_detail(home.request_id)
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        bob.get_snapshot_content(home.request_id, "by_sex.csv")
    answer = home.airlock("tom").get_request_detail(home.request_id)  # on alice's team
    assert answer["caller"]["on_team"] is True


def test_get_member_projects__each_person_reads_their_own_projects_only(home: Home) -> None:
    from genomlab.platform.applications.queries import get_member_projects

    [alices] = home.platform("alice").get_member_projects()
    assert alices == get_member_projects(home.config, "alice")[0]
    assert (alices["project_id"], alices["team"]) == (home.project, ["alice", "tom"])
    assert alices["duo_codes"]  # the DUO terms of the datasets the application asked for
    assert [p["project_id"] for p in home.platform("tom").get_member_projects()] == [
        home.project]
    assert home.platform("bob").get_member_projects() == []  # under review: no entitlement


def test_service_register__register_dashboard_reads_the_public_register_of_the_service(
    home: Home,
) -> None:
    from genomlab.dashboards.register import ServiceRegister, StoreRegister

    web, store = ServiceRegister(home.config), StoreRegister(home.config)
    assert web.page(None, None, 0, 1) == store.page(None, None, 0, 1)
    assert web.page("Bob's", "", 0, 50).entries == store.page("Bob's", None, 0, 50).entries
    assert web.summary() == store.summary() == {"approved": 1, "under_review": 1}
    assert web.entry(home.project) == store.entry(home.project) is not None
    assert web.entry("GDE-0000-9999") is None
    assert "register.csv" in web.download_links_html()
