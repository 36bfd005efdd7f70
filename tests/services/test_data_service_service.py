"""The data service as a service: feasibility by the service's own rules, audited by the
verified person.

One home per module: the feasibility index of two hand-built KDKs
(:mod:`tests.data_service.reported_nodes`, no Hail), real ``genomlab serve platform`` and
``genomlab serve data-service`` subprocesses. People call with platform tokens for the data
service's audience: registered platform users with person credentials
(:func:`tests.services.people.person_tokens`); the data service asks the platform who they are
with its own client (``data_service/platform-client.json``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.clients.data_service import FEASIBILITY_PATH, DataServiceClient
from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.platform.access_tokens import AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE
from genomlab.platform.person_credentials import save_person_credentials, withdraw_user
from genomlab.services.process import ServiceProcess, running_service
from genomlab.services.runner import get_service_record_path
from tests.conftest import REPO, config_for
from tests.data_service.reported_nodes import (
    MOST_RARE_WOMEN_TERM,
    NARROW_TERMS,
)
from tests.services.homes import prepare_data_service_home
from tests.services.people import (
    ledger_report,
    mint_person_token,
    person_credentials,
    person_tokens,
    state_changes,
    store_state,
)


@dataclass(frozen=True)
class Services:
    config: GenomlabConfig
    data_service: ServiceProcess
    log_dir: Path

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.data_service.url, timeout=30, verify=self.data_service.ssl_context()
        )


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    base = tmp_path_factory.mktemp("data-service-service")
    config = config_for(base / "home")
    prepare_data_service_home(config)
    env = {"PYTHONPATH": str(REPO)}
    with (
        running_service(config, "platform", log=base / "platform.log", env=env),
        running_service(config, "data_service", log=base / "ds.log", env=env) as ds,
    ):
        yield Services(config, ds, base)


def client(
    services: Services, user: str, caller: GenomlabConfig | None = None
) -> DataServiceClient:
    return DataServiceClient(caller or services.config, person_tokens(services.config, user))


def data_service_state(config: GenomlabConfig) -> dict[str, int]:
    return store_state(config, "data_service")


def feasibility_events(config: GenomlabConfig) -> list:
    return [
        e
        for e in Institution(config, "data_service").ledger().events()
        if e.type == "feasibility.answered"
    ]


def test_run_feasibility_query__caller_threshold_of_one_still_suppressed(services):
    """A caller whose configuration says min_cell_count 1 gets the one holder of a narrow term
    in-process (the attack of issue 15), and "<10" from the service, which uses its own."""
    # the home's configuration (its stores, also on PostgreSQL) with the caller's override
    caller = services.config.model_copy(update={
        "disclosure": services.config.disclosure.model_copy(update={"min_cell_count": 1})})
    assert caller.disclosure.min_cell_count == 1
    request = make_request([NARROW_TERMS[0]], granularity="count")
    in_process = run_feasibility_query(caller, request, user="eve-in-process")
    assert in_process["responseSummary"]["numTotalResults"] == 1  # what the service refuses
    answer = client(services, "eve", caller).run_feasibility_query(request)
    assert answer["responseSummary"] == {"exists": True, "numTotalResults": "<10"}
    assert "total below 10" in answer["info"]["suppression"]


def test_serve_data_service__threshold_below_platform_minimum_refused(services):
    """A data service configured below the platform minimum does not start (and the running
    instance's record stays as it is)."""
    record = get_service_record_path(services.config, Institution(services.config, "data_service"))
    before = record.read_text()
    done = subprocess.run(
        [sys.executable, "-m", "genomlab.cli", "serve", "data-service", "--port", "0"],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "GENOMLAB_HOME": str(services.config.home),
            "GENOMLAB_DISCLOSURE__MIN_CELL_COUNT": "5",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "disclosure.min_cell_count: 5 is below the platform minimum 10" in done.stdout + done.stderr
    )
    assert record.read_text() == before


def test_run_feasibility_query__name_switching_does_not_evade_differencing(services):
    """Mallory asks a wide query, then the wide one minus one person while naming bob in the
    body, the headers and the query string: the service audits the token's person, so the
    second answer is suppressed and both are mallory's in the ledger.

    The suppressed answer changes nothing else: the only rows it adds are the audit's own query
    log, which legitimately records the refused question (one ``feasibility.answered`` event
    of mallory's with ``suppressed`` set, and its row in ``ds_feasibility_queries``, which the
    next differencing audit reads); every other data-service table keeps its row count and the
    ledger verifies in full afterwards."""
    config = services.config
    mallory = person_tokens(config, "mallory")
    wide = make_request(["NCIT:C16576", "diseaseType:rare"], granularity="count")
    narrow = make_request(
        ["NCIT:C16576", "diseaseType:rare", MOST_RARE_WOMEN_TERM], granularity="count"
    )
    first = client(services, "mallory").run_feasibility_query(wide)
    assert isinstance(first["responseSummary"]["numTotalResults"], int)
    before = data_service_state(config)
    with services.http() as http:
        answer = http.post(
            FEASIBILITY_PATH,
            params={"user": "bob"},
            json={**narrow, "user": "bob", "meta": {"user": "bob"}},
            headers={
                **mallory.headers(),
                "X-User": "bob",
                "X-Remote-User": "bob",
                "JUPYTERHUB_USER": "bob",
            },
        )
    assert answer.status_code == 200, answer.text
    second = answer.json()
    assert second["responseSummary"]["numTotalResults"] == "suppressed"
    assert (
        "differencing: differs from an earlier answer by a small cell"
        in (second["info"]["suppression"])
    )
    assert state_changes(before, data_service_state(config)) == {
        "ds_feasibility_queries": 1, "ledger_events": 1}  # the audit's query log, nothing else
    logged = feasibility_events(config)[-1]
    assert (logged.actor, logged.payload["user"], logged.payload["suppressed"]) == (
        "mallory", "mallory", True)
    assert ledger_report(config, "data_service").startswith("ok:")
    asked = [
        (e.actor, e.payload["user"])
        for e in feasibility_events(config)
        if e.actor in ("mallory", "bob")
    ]
    assert asked == [("mallory", "mallory"), ("mallory", "mallory")]
    bob = client(services, "bob").run_feasibility_query(narrow)  # bob himself never asked
    assert isinstance(bob["responseSummary"]["numTotalResults"], int)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "airlock-audience", "expired"])
def test_run_feasibility_query__without_valid_person_token_401(services, authorization):
    config = services.config
    if authorization == "airlock-audience":
        authorization = "Bearer " + mint_person_token(config, "eve", AIRLOCK_AUDIENCE)
    elif authorization == "expired":
        authorization = "Bearer " + mint_person_token(
            config, "eve", DATA_SERVICE_AUDIENCE, lifetime_seconds=-1
        )
    before = data_service_state(config)
    headers = {"Authorization": authorization} if authorization else {}
    with services.http() as http:
        answer = http.post(
            FEASIBILITY_PATH,
            json=make_request([NARROW_TERMS[1]]),
            headers={**headers, "X-User": "eve"},
        )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert data_service_state(config) == before


def test_run_feasibility_query__budget_is_the_verified_persons(services):
    """The budget counts per verified person: over it the service answers 403, records nothing."""
    config = services.config
    asker = client(services, "trudy")
    for i in range(config.disclosure.feasibility_budget):
        asker.run_feasibility_query(make_request([NARROW_TERMS[i % len(NARROW_TERMS)]]))
    with pytest.raises(PermissionDenied, match=r"HTTP 403.*budget used up: trudy"):
        asker.run_feasibility_query(make_request([NARROW_TERMS[0]]))
    assert len([e for e in feasibility_events(config) if e.actor == "trudy"]) == (
        config.disclosure.feasibility_budget
    )


def test_run_feasibility_query__platform_not_reachable_503(services):
    """Without the platform's record the data service cannot ask who is calling: 503, and
    nothing is recorded (it never assumes)."""
    config = services.config
    headers = person_tokens(config, "eve").headers()  # a valid token, taken while it runs
    record = get_service_record_path(config, Institution(config, "platform"))
    before = data_service_state(config)
    hidden = record.rename(record.with_name("platform.json.away"))
    try:
        with services.http() as http:
            answer = http.post(
                FEASIBILITY_PATH, json=make_request([NARROW_TERMS[2]]), headers=headers
            )
    finally:
        hidden.rename(record)
    assert answer.status_code == 503, answer.text
    assert "cannot ask the platform" in answer.json()["error_description"] or (
        "platform: not running" in answer.json()["error_description"]
    )
    assert data_service_state(config) == before


def test_run_feasibility_query__withdrawn_person_401(services):
    """A person the platform withdrew is refused at most the service's person-status TTL later
    (asked, not told; the in-process tests with an injected clock: test_person_check.py)."""
    config = services.config
    tokens = person_tokens(config, "tom")
    assert DataServiceClient(config, tokens).run_feasibility_query(make_request([NARROW_TERMS[3]]))
    withdraw_user(config, "tom", actor="operator:test", reason="left the project")
    time.sleep(config.services.person_status_ttl_seconds)  # the service's own TTL (default 2 s)
    before = data_service_state(config)
    with services.http() as http:
        answer = http.post(
            FEASIBILITY_PATH, json=make_request([NARROW_TERMS[3]]), headers=tokens.headers()
        )  # the cached token, still unexpired
    assert answer.status_code == 401, answer.text
    assert "withdrawn" in answer.json()["error_description"]
    assert data_service_state(config) == before


def test_feasibility_cmd__uses_the_service_with_the_persons_credentials(services, tmp_path):
    """``genomlab data-service feasibility`` with the service running: the caller's
    ``GENOMLAB_DISCLOSURE__MIN_CELL_COUNT=1`` and ``JUPYTERHUB_USER`` change nothing; the
    answer is the service's ("<10") and the requester is the credentials' person."""
    config = services.config
    credentials = tmp_path / "eve-credentials.json"
    save_person_credentials(credentials, person_credentials(config, "eve"))
    result = CliRunner().invoke(
        main,
        [
            "data-service",
            "feasibility",
            "--filter",
            NARROW_TERMS[4],
            "--granularity",
            "count",
            "--credentials",
            str(credentials),
        ],
        env={
            "GENOMLAB_HOME": str(config.home),
            "GENOMLAB_DISCLOSURE__MIN_CELL_COUNT": "1",
            "JUPYTERHUB_USER": "bob",
        },
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["responseSummary"] == {
        "exists": True,
        "numTotalResults": "<10",
    }
    last = feasibility_events(config)[-1]
    assert (last.actor, last.payload["filters"]) == ("eve", {"hpo": [NARROW_TERMS[4]]})


def test_ask_feasibility__goes_to_the_running_service_as_the_credentials_person(
    services, tmp_path
):
    """What the feasibility notebook calls: with the data service running, the query goes to
    it with the credentials' person's token; the ``user`` the caller passes and the caller's
    threshold of 1 change nothing (the service's "<10", recorded for the credentials' person)."""
    from genomlab.clients.data_service import ask_feasibility

    credentials = tmp_path / "alice-credentials.json"
    save_person_credentials(credentials, person_credentials(services.config, "alice"))
    caller = services.config.model_copy(
        update={"disclosure": services.config.disclosure.model_copy(update={"min_cell_count": 1})}
    )
    before = len(feasibility_events(services.config))
    answer = ask_feasibility(
        caller,
        make_request([NARROW_TERMS[6]], granularity="count"),
        user="bob",
        credentials=str(credentials),
    )
    assert answer["responseSummary"] == {"exists": True, "numTotalResults": "<10"}
    [event] = feasibility_events(services.config)[before:]
    assert (event.actor, event.payload["user"]) == ("alice", "alice")
    assert event.payload["filters"] == {"hpo": [NARROW_TERMS[6]]}
