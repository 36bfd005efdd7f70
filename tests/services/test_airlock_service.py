"""The airlock as a service: two distinct verified output checkers release, one never does.

One home per module: an approved project on the real platform (:func:`tests.platform.conftest.
approve_application`: ``alice`` applied, ``tom`` on her team, ``hanna`` and ``ute`` output
checkers), real ``genomlab serve platform`` and ``genomlab serve airlock`` subprocesses. People
call with platform tokens for the airlock's audience (:mod:`tests.services.people`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from genomlab.airlock.requests import get_released_dir
from genomlab.cli import main
from genomlab.clients.airlock import AirlockClient
from genomlab.clients.oauth import get_service_endpoint
from genomlab.config import GenomlabConfig
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.platform.access_tokens import AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE
from genomlab.platform.person_credentials import save_person_credentials
from genomlab.services.process import ServiceProcess, running_service
from genomlab.services.runner import get_service_record_path
from tests.conftest import REPO, config_for
from tests.services.homes import BY_SEX, prepare_airlock_home
from tests.services.people import (
    mint_person_token,
    person_credentials,
    person_tokens,
    store_state,
)


@dataclass(frozen=True)
class Services:
    config: GenomlabConfig
    airlock: ServiceProcess
    project: str

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.airlock.url, timeout=30, verify=self.airlock.ssl_context()
        )

    def as_person(self, user: str) -> AirlockClient:
        return AirlockClient(self.config, person_tokens(self.config, user))


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    base = tmp_path_factory.mktemp("airlock-service")
    config = config_for(base / "home")
    project = prepare_airlock_home(config)
    env = {"PYTHONPATH": str(REPO)}
    with (
        running_service(config, "platform", log=base / "platform.log", env=env),
        running_service(config, "airlock", log=base / "airlock.log", env=env) as airlock,
    ):
        yield Services(config, airlock, project)


def state(config: GenomlabConfig) -> dict[str, dict[str, int]]:
    return {kind: store_state(config, kind) for kind in ("airlock", "platform")}


def ledgers_verify(config: GenomlabConfig) -> bool:
    return all(
        Institution(config, kind).ledger().verify(full=True).ok  # type: ignore[arg-type]
        for kind in ("airlock", "platform")
    )


def airlock_events(config: GenomlabConfig, request_id: str) -> list:
    return [
        e
        for e in Institution(config, "airlock").ledger().events()
        if e.payload.get("request_id") == request_id
    ]


def test_submit_request__author_is_the_verified_person(services):
    """Alice's token, bob's name everywhere else: the request is alice's."""
    with services.http() as http:
        answer = http.post(
            "/api/requests",
            params={"author": "bob"},
            json={
                "project": services.project,
                "files": ["by_sex.csv"],
                "author": "bob",
                "user": "bob",
            },
            headers={**person_tokens(services.config, "alice").headers(), "X-User": "bob"},
        )
    assert answer.status_code == 200, answer.text
    request_id = answer.json()["request_id"]
    assert [e.actor for e in airlock_events(services.config, request_id)] == ["alice"]


def test_submit_request__outsider_refused_403(services):
    before = state(services.config)
    with pytest.raises(PermissionDenied, match=r"HTTP 403.*bob is not an entitled member"):
        services.as_person("bob").submit_request(services.project, ["by_sex.csv"])
    assert state(services.config) == before


def test_release_request__one_checker_refused_403_and_nothing_changes(services):
    """Hanna approves; then hanna again under ute's name (body, headers, query) and hanna
    asking to release: both 403, no row of the airlock or the platform changes, ledgers
    verify; the request stays partially reviewed with hanna's decisions only."""
    config = services.config
    request_id = services.as_person("alice").submit_request(
        services.project, ["by_sex.csv", "by_age.csv"]
    )
    hanna = services.as_person("hanna")
    assert hanna.record_review(request_id, "approve", "counts ≥ 10") == "partially_reviewed"
    before = state(config)
    with services.http() as http:
        again = http.post(
            f"/api/requests/{request_id}/reviews",
            params={"reviewer": "ute"},
            json={"decision": "approve", "reason": "fine", "reviewer": "ute", "file": "by_sex.csv"},
            headers={
                **person_tokens(config, "hanna").headers(),
                "X-User": "ute",
                "X-Remote-User": "ute",
            },
        )
    assert again.status_code == 403, again.text
    assert "second decision needs a second output checker" in again.json()["error_description"]
    with pytest.raises(PermissionDenied, match=r"HTTP 403.*needs the approval of 2 distinct"):
        hanna.release_request(request_id)
    with pytest.raises(PermissionDenied, match=r"HTTP 403.*already decided every file"):
        hanna.record_review(request_id, "approve", "still fine")
    assert state(config) == before
    assert ledgers_verify(config)
    detail = hanna.get_request_detail(request_id)
    assert detail["request"]["status"] == "partially_reviewed"
    assert {d["reviewer"] for f in detail["files"] for d in f["decisions"]} == {"hanna"}
    assert not (get_released_dir(config, services.project) / request_id).exists()


def test_record_file_review__two_distinct_checkers_release(services):
    """Per-file decisions by hanna and ute: the last one releases, files copied out, both
    checkers recorded as the actors of their ``airlock.file.reviewed`` events."""
    config = services.config
    request_id = services.as_person("alice").submit_request(
        services.project, ["by_sex.csv", "by_age.csv"]
    )
    hanna, ute = services.as_person("hanna"), services.as_person("ute")
    assert hanna.record_file_review(request_id, "by_sex.csv", "approve", "≥ 10") == (
        "partially_reviewed"
    )
    assert ute.record_file_review(request_id, "by_sex.csv", "approve", "fine") == (
        "partially_reviewed"
    )
    assert hanna.record_file_review(request_id, "by_age.csv", "approve", "≥ 10") == (
        "partially_reviewed"
    )
    assert ute.record_file_review(request_id, "by_age.csv", "approve", "fine") == "released"
    reviewed = sorted(
        (e.payload["name"], e.actor)
        for e in airlock_events(config, request_id)
        if e.type == "airlock.file.reviewed"
    )
    assert reviewed == [
        ("by_age.csv", "hanna"),
        ("by_age.csv", "ute"),
        ("by_sex.csv", "hanna"),
        ("by_sex.csv", "ute"),
    ]
    released = get_released_dir(config, services.project) / request_id
    assert (released / "by_sex.csv").read_text() == BY_SEX
    assert hanna.release_request(request_id) == []  # already released: idempotent
    assert ledgers_verify(config)


@pytest.mark.parametrize("authorization", [None, "data-service-audience", "expired"])
def test_record_review__without_valid_person_token_401(services, authorization):
    config = services.config
    if authorization == "data-service-audience":
        authorization = "Bearer " + mint_person_token(config, "hanna", DATA_SERVICE_AUDIENCE)
    elif authorization == "expired":
        authorization = "Bearer " + mint_person_token(
            config, "hanna", AIRLOCK_AUDIENCE, lifetime_seconds=-1
        )
    before = state(config)
    headers = {"Authorization": authorization} if authorization else {}
    with services.http() as http:
        answer = http.post(
            "/api/requests/AR-000001/reviews",
            json={"decision": "approve", "reason": "x"},
            headers={**headers, "X-User": "hanna"},
        )
    assert answer.status_code == 401
    assert state(config) == before


def test_airlock_cli__request_and_review_through_the_service(services, tmp_path):
    """``genomlab airlock request``/``review`` with the service running act as the
    credentials' person, whatever ``JUPYTERHUB_USER`` says: alice asks, hanna reviews, and
    hanna's second review under ute's name is refused."""
    config = services.config

    def run(user: str, *args: str) -> Any:
        home = tmp_path / user  # the person's account: ~/.genomlab/credentials.json
        save_person_credentials(
            home / ".genomlab" / "credentials.json", person_credentials(config, user)
        )
        env = {"GENOMLAB_HOME": str(config.home), "HOME": str(home), "JUPYTERHUB_USER": "ute"}
        return CliRunner().invoke(main, ["airlock", *args], env=env)

    asked = run("alice", "request", services.project, "by_sex.csv")
    assert asked.exit_code == 0, asked.output
    request_id = asked.output.split(":")[0]
    reviewed = run("hanna", "review", request_id, "approve", "--reason", "counts ≥ 10")
    assert reviewed.output.strip() == f"{request_id}: partially_reviewed"
    again = run("hanna", "review", request_id, "approve", "--reason", "as ute")
    assert again.exit_code != 0
    assert "second decision needs a second output checker" in again.output
    assert [(e.type, e.actor) for e in airlock_events(config, request_id)] == [
        ("airlock.request.submitted", "alice"),
        ("airlock.file.reviewed", "hanna"),
        ("airlock.review.recorded", "hanna"),
    ]


def test_record_review__platform_not_reachable_503(services):
    """Without the platform's record the airlock cannot ask who is calling and what roles they
    hold: 503, and no row of the airlock changes (it never assumes)."""
    config = services.config
    request_id = services.as_person("alice").submit_request(services.project, ["by_age.csv"])
    headers = person_tokens(config, "hanna").headers()  # a valid token, taken while it runs
    record = get_service_record_path(config, Institution(config, "platform"))
    before = store_state(config, "airlock")
    hidden = record.rename(record.with_name("platform.json.away"))
    try:
        with services.http() as http:
            answer = http.post(
                f"/api/requests/{request_id}/reviews",
                json={"decision": "approve", "reason": "fine"},
                headers=headers,
            )
    finally:
        hidden.rename(record)
    assert answer.status_code == 503, answer.text
    assert store_state(config, "airlock") == before
    assert services.as_person("hanna").record_review(request_id, "approve", "fine") == (
        "partially_reviewed"
    )


def _airlock_client_tokens(config: GenomlabConfig, scope: str) -> Any:
    from genomlab.clients.oauth import BearerTokens, get_credentials_path, load_client_credentials

    path = get_credentials_path(Institution(config, "airlock").directory)
    return BearerTokens(config, load_client_credentials(path), scope)


def test_project_member__platform_answers_the_airlock_client_only(services):
    """The platform answers membership to the airlock's own client (``projects:read``): alice
    is a member, bob is not, an unknown project is 404; a person's token or a client without
    the scope is refused, and asking changes no row of the platform."""
    config = services.config
    platform = get_service_endpoint(config, "platform")
    before = state(config)
    airlock = _airlock_client_tokens(config, "projects:read").headers()
    with platform.http() as http:
        members = {user: http.get(f"/api/projects/{services.project}/members/{user}",
                                  headers=airlock) for user in ("alice", "bob")}
        unknown = http.get("/api/projects/GDE-1999-999/members/alice", headers=airlock)
        team = http.get(f"/api/projects/{services.project}/team", headers=airlock)
        status_only = _airlock_client_tokens(config, "status:read").headers()
        no_scope = http.get(f"/api/projects/{services.project}/members/alice",
                            headers=status_only)
        as_person = http.get(f"/api/projects/{services.project}/members/alice",
                             headers=person_tokens(config, "alice").headers())
        record = http.post(f"/api/projects/{services.project}/results", headers=airlock,
                           json={"author": "alice", "title": "t", "reference": "airlock:x"})
    assert {user: a.json()["member"] for user, a in members.items()} == {
        "alice": True, "bob": False}
    assert unknown.status_code == 404
    assert "alice" in team.json()["team"]
    assert (no_scope.status_code, no_scope.json()["error"]) == (403, "insufficient_scope")
    assert as_person.status_code == 401
    assert (record.status_code, record.json()["error"]) == (403, "insufficient_scope")
    assert state(config) == before


def test_submit_request__membership_asked_of_the_platform_endpoint(services):
    """The airlock's desk asks the platform service (``GET /api/projects/{p}/members/{u}``,
    the airlock's own client) whether the verified person is on the team: a non-member is
    refused 403-style and nothing of the airlock or the platform is written."""
    from genomlab.platform.access_tokens import VerifiedPerson
    from genomlab.services.airlock_api import AirlockDesk
    from genomlab.services.airlock_platform import ServiceDirectory

    config = services.config
    directory = ServiceDirectory.for_airlock(config)
    assert directory.client is not None
    asked: list[tuple[str, str]] = []
    is_member = directory.client.is_member

    def spy(project: str, user: str) -> bool:
        asked.append((project, user))
        return is_member(project, user)

    directory.client.is_member = spy  # type: ignore[method-assign]
    bob = VerifiedPerson("bob", person_credentials(config, "bob").client_id, (), "Test")
    before = state(config)
    with pytest.raises(PermissionDenied, match="bob is not an entitled member"):
        AirlockDesk(config, directory).submit(
            bob, {"project": services.project, "files": ["by_sex.csv"]})
    assert asked == [(services.project, "bob")]
    assert state(config) == before
    assert directory.is_team_member("alice", services.project)
    assert not directory.is_output_checker("alice")
    assert directory.is_output_checker("hanna")
