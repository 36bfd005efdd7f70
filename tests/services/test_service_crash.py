"""SIGKILL a service mid-request, restart it, retry: no event lost or duplicated.

The platform (a Prüfbericht upload) and the trust centre (a GRZ's case-number exchange).

The service is killed (``GL_CRASHPOINT``, :mod:`genomlab.crashpoints`: SIGKILL, no clean-up runs)
at the two places where an upload can die: inside the ledger transaction after the event is
appended but before the commit, and after the commit before the answer is sent. The client sees
the connection drop, as it would after an OOM kill or a power cut; it retries the same
Prüfbericht once the service is back (as ``grzctl`` retries), and the platform holds exactly one
confirmation of that TAN, the ledger verifies, and a committed confirmation keeps its id.

Each crash needs a process of its own, so this module starts its services itself (in one home).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from genomlab.institution import Institution
from genomlab.platform.confirmations import tan_hash
from genomlab.platform.node_projection import confirmations_table
from genomlab.platform.store import read_platform
from genomlab.services.process import ServiceProcess, running_service
from tests.conftest import REPO, config_for
from tests.services.conftest import (
    RunningService,
    approved_node_client,
    make_pruefbericht,
    platform_ledger_report,
)
from tests.services.homes import (
    prepare_airlock_home,
    prepare_data_service_home,
    prepare_grz_home,
)

TOKEN = "/oauth2/token"
UPLOAD = "/api/pruefbericht/upload"


def _token_and_upload(service: RunningService, client_id: str, secret: str,
                      report: dict) -> httpx.Response:
    with service.client() as http:
        token = http.post(TOKEN, data={"grant_type": "client_credentials",
                                       "client_id": client_id, "client_secret": secret})
        assert token.status_code == 200, token.text
        return http.post(UPLOAD, json=report,
                         headers={"Authorization": f"bearer {token.json()['access_token']}"})


def _confirmations_of(config, tan: str) -> list[str]:
    with read_platform(config) as conn:
        return [row.confirmation_id for row in conn.execute(
            select(confirmations_table).where(confirmations_table.c.tan_hash == tan_hash(tan)))]


def _as_running(service: ServiceProcess, config) -> RunningService:
    return RunningService(service.url, service.ca, config)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["pruefbericht.appended", "pruefbericht.committed"])
def test_platform_service__killed_mid_upload_retry_records_once(tmp_path: Path,
                                                                point: str) -> None:
    config = config_for(tmp_path / "home")
    node_id = "GRZK00007"
    client = approved_node_client(config, node_id)
    report = make_pruefbericht(node_id, f"crash-{point}")
    tan = report["SubmittedCase"]["tan"]
    env = {"PYTHONPATH": str(REPO)}

    with running_service(config, "platform", log=tmp_path / "killed.log",
                         env={**env, "GL_CRASHPOINT": point}) as doomed:
        with pytest.raises(httpx.TransportError):
            _token_and_upload(_as_running(doomed, config), client.client_id,
                              client.client_secret, report)
        assert doomed.process.wait(timeout=30) == -9, "the service was not killed at " + point
    recorded = _confirmations_of(config, tan)
    assert len(recorded) == (1 if point == "pruefbericht.committed" else 0), recorded

    with running_service(config, "platform", log=tmp_path / "restarted.log",
                         env=env) as restarted:
        answer = _token_and_upload(_as_running(restarted, config), client.client_id,
                                   client.client_secret, report)
        again = _token_and_upload(_as_running(restarted, config), client.client_id,
                                  client.client_secret, report)
    assert answer.status_code == 200, answer.text
    assert again.json() == answer.json()  # a retry after success changes nothing either
    after = _confirmations_of(config, tan)
    assert len(after) == 1, after
    assert recorded in ([], after), "a committed confirmation kept its id on the retry"
    assert after[0] in answer.text  # the signed Meldebestätigung names the recorded id
    assert platform_ledger_report(config).startswith("ok")


# --- the trust centre ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trust_center_home(tmp_path_factory: pytest.TempPathFactory):
    """A home with an approved GRZ, the trust centre's own platform client and a running
    platform (which the trust centre asks about the node at every request)."""
    from click.testing import CliRunner

    from genomlab.cli import main
    from genomlab.platform.access_tokens import TOKEN_KEY
    from genomlab.platform.nodes import NodeRegistry

    base = tmp_path_factory.mktemp("trust-center-crash")
    config = config_for(base / "home")
    grz = approved_node_client(config, "GRZS04001")
    NodeRegistry(config).ensure_approved("VSTRKI", name="RKI", actor="bfarm-op")
    saved = CliRunner().invoke(main, ["platform", "nodes", "issue-client", "VSTRKI", "--save"],
                               env={"GENOMLAB_HOME": str(config.home)})
    assert saved.exit_code == 0, saved.output
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)  # publishes the token key
    with running_service(config, "platform", log=base / "platform.log",
                         env={"PYTHONPATH": str(REPO)}):
        yield config, grz


def _exchanged_events(config, node_id: str) -> list:
    return [e for e in Institution(config, "trust_center").ledger().events(
        type="case_number.exchanged") if e.payload["node_id"] == node_id]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["case_number.appended", "case_number.committed"])
def test_trust_center_service__killed_mid_exchange_retry_exchanges_once(
        trust_center_home, tmp_path: Path, point: str) -> None:
    from genomlab.clients.oauth import ClientCredentials, ServiceUnavailable
    from genomlab.clients.trust_center import PSEUDONYM_SCOPE, TrustCenterClient
    from genomlab.trust_center.service import TrustCenter
    from tests.trust_center.conftest import make_kvnr

    config, grz = trust_center_home
    index = 1 if point.endswith("appended") else 2
    vng = TrustCenter(config).request_case_numbers(
        kvnr=make_kvnr(700 + index), arbeitsnummer=f"AN-CRASH-{index}", le_ik="260840108",
        le_name="UK Test", actor="le:260840108").genomic
    before = len(_exchanged_events(config, "GRZS04001"))
    env = {"PYTHONPATH": str(REPO)}

    def node_client() -> TrustCenterClient:
        return TrustCenterClient(config, ClientCredentials(
            grz.client_id, grz.client_secret, "GRZS04001"), scope=PSEUDONYM_SCOPE)

    with running_service(config, "trust_center", log=tmp_path / "killed.log",
                         env={**env, "GL_CRASHPOINT": point}) as doomed:
        # the connection drops with the process: the client says the service is unavailable
        with pytest.raises(ServiceUnavailable, match="Server disconnected"):
            node_client().exchange_case_number(vng, node_id="GRZS04001", domain="genomic")
        assert doomed.process.wait(timeout=30) == -9, "the trust centre was not killed at " + point
    committed = len(_exchanged_events(config, "GRZS04001")) - before
    assert committed == (1 if point == "case_number.committed" else 0)

    with running_service(config, "trust_center", log=tmp_path / "restarted.log", env=env):
        pseudonym = node_client().exchange_case_number(vng, node_id="GRZS04001",
                                                       domain="genomic")
        again = node_client().exchange_case_number(vng, node_id="GRZS04001", domain="genomic")
    assert pseudonym == again
    assert pseudonym.startswith("GDP1-")
    assert len(_exchanged_events(config, "GRZS04001")) - before == 1  # not lost, not doubled
    assert Institution(config, "trust_center").ledger().verify(full=True).ok


# --- the airlock ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airlock_home(tmp_path_factory: pytest.TempPathFactory):
    """An approved project with two outputs (:func:`tests.services.homes.prepare_airlock_home`)
    and a running platform (people's tokens, team membership, the register)."""
    base = tmp_path_factory.mktemp("airlock-crash")
    config = config_for(base / "home")
    project = prepare_airlock_home(config)
    with running_service(config, "platform", log=base / "platform.log",
                         env={"PYTHONPATH": str(REPO)}):
        yield config, project


def _airlock_events(config, request_id: str, kind: str) -> list:
    return [e for e in Institution(config, "airlock").ledger().events(type=kind)
            if e.payload["request_id"] == request_id]


def _register_entries(config, request_id: str) -> list[str]:
    from genomlab.platform.applications.projection import results

    with read_platform(config) as conn:
        return [row.reference for row in conn.execute(select(results))  # keyed by application
                if row.reference.startswith(f"airlock:{request_id} ")]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["airlock.copied_out", "airlock.registered"])
def test_airlock_service__killed_mid_release_retry_releases_once(airlock_home, tmp_path: Path,
                                                                 point: str) -> None:
    """The second checker's approval releases the request: killed after the first file is
    copied out, or after the register entry is recorded on the platform but before
    ``airlock.request.released``. The second checker's retry of the same decision gets
    ``released``; one release event, one register entry, every file copied out whole."""
    from genomlab.airlock.requests import get_released_dir, get_request_detail
    from genomlab.clients.airlock import AirlockClient
    from genomlab.clients.oauth import ServiceUnavailable
    from tests.services.homes import BY_AGE, BY_SEX
    from tests.services.people import person_tokens

    config, project = airlock_home
    env = {"PYTHONPATH": str(REPO)}

    def person(user: str) -> AirlockClient:
        return AirlockClient(config, person_tokens(config, user))

    with running_service(config, "airlock", log=tmp_path / "killed.log",
                         env={**env, "GL_CRASHPOINT": point}) as doomed:
        request_id = person("alice").submit_request(project, ["by_sex.csv", "by_age.csv"])
        assert person("hanna").record_review(request_id, "approve", "≥ 10") == (
            "partially_reviewed")
        with pytest.raises(ServiceUnavailable, match="Server disconnected"):
            person("ute").record_review(request_id, "approve", "fine")
        assert doomed.process.wait(timeout=30) == -9, "the airlock was not killed at " + point
    assert get_request_detail(config, request_id).request["status"] == "approved"
    assert _airlock_events(config, request_id, "airlock.request.released") == []
    registered = _register_entries(config, request_id)
    assert len(registered) == (1 if point == "airlock.registered" else 0), registered

    with running_service(config, "airlock", log=tmp_path / "restarted.log", env=env):
        retried = person("ute").record_review(request_id, "approve", "fine")
        again = person("ute").record_review(request_id, "approve", "fine")
        copied = person("hanna").release_request(request_id)
    assert (retried, again, copied) == ("released", "released", [])
    (released,) = _airlock_events(config, request_id, "airlock.request.released")
    assert sorted(f["name"] for f in released.payload["files"]) == ["by_age.csv", "by_sex.csv"]
    assert len(_airlock_events(config, request_id, "airlock.file.reviewed")) == 4  # 2 × 2
    assert len(_register_entries(config, request_id)) == 1
    folder = get_released_dir(config, project) / request_id
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        "by_sex.csv": BY_SEX, "by_age.csv": BY_AGE}  # whole, no temporary file left
    for kind in ("airlock", "platform"):
        assert Institution(config, kind).ledger().verify(full=True).ok


# --- the data service ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_service_home(tmp_path_factory: pytest.TempPathFactory):
    """The feasibility index and people (:func:`tests.services.homes.prepare_data_service_home`)
    and a running platform (which the data service asks about the person at every request)."""
    base = tmp_path_factory.mktemp("data-service-crash")
    config = config_for(base / "home")
    prepare_data_service_home(config)
    with running_service(config, "platform", log=base / "platform.log",
                         env={"PYTHONPATH": str(REPO)}):
        yield config


def _answered_events(config, user: str) -> list:
    return [e for e in Institution(config, "data_service").ledger().events(
        type="feasibility.answered") if e.payload["user"] == user]


@pytest.mark.slow
@pytest.mark.parametrize(("point", "user"), [("feasibility.appended", "eve"),
                                             ("feasibility.committed", "trudy")])
def test_data_service__killed_mid_feasibility_retry_answers_once(data_service_home,
                                                                 tmp_path: Path, point: str,
                                                                 user: str) -> None:
    """Killed after the answer is computed and ``feasibility.answered`` appended (before the
    commit), or after the commit (not yet answered): the retry with the same
    ``Idempotency-Key`` gets the answer, and the ledger holds the query exactly once."""
    from genomlab.data_service.beacon import make_request
    from genomlab.data_service.store import open_data_service_ledger, queries
    from genomlab.db import read_connection
    from tests.data_service.reported_nodes import MOST_RARE_WOMEN_TERM
    from tests.services.people import person_tokens

    config = data_service_home
    request = make_request([MOST_RARE_WOMEN_TERM], granularity="count")
    headers = {**person_tokens(config, user).headers(), "Idempotency-Key": f"crash-{point}"}
    env = {"PYTHONPATH": str(REPO)}

    def ask(service: ServiceProcess) -> httpx.Response:
        with httpx.Client(base_url=service.url, timeout=30, verify=service.ssl_context()) as http:
            return http.post("/api/feasibility", json=request, headers=headers)

    with running_service(config, "data_service", log=tmp_path / "killed.log",
                         env={**env, "GL_CRASHPOINT": point}) as doomed:
        with pytest.raises(httpx.TransportError):
            ask(doomed)
        assert doomed.process.wait(timeout=30) == -9, "the data service was not killed at " + point
    committed = _answered_events(config, user)
    assert len(committed) == (1 if point == "feasibility.committed" else 0), committed

    with running_service(config, "data_service", log=tmp_path / "restarted.log",
                         env=env) as restarted:
        answer, again = ask(restarted), ask(restarted)
    assert answer.status_code == again.status_code == 200, answer.text
    assert answer.json()["responseSummary"]["exists"] is True
    assert again.json() == answer.json()
    (event,) = _answered_events(config, user)  # not lost, not doubled
    assert [e.payload["query_id"] for e in committed] in ([], [event.payload["query_id"]])
    with read_connection(open_data_service_ledger(config).engine) as conn:
        rows = conn.execute(select(queries.c.query_id).where(queries.c.user_id == user)).all()
    assert [r.query_id for r in rows] == [event.payload["query_id"]]
    assert Institution(config, "data_service").ledger().verify(full=True).ok


# --- a GRZ ---------------------------------------------------------------------------------------

WORLD = REPO / "data_samples" / "world"


def _failing_submission() -> tuple[str, str]:
    """A world submission that fails basic QC (no Hail needed) and its GRZ."""
    import json

    truth = json.loads((WORLD / "truth.json").read_text())
    grz_of = {s["submission_id"]: s["grz"] for s in truth["submissions"]}
    bad = next(b for b in truth["bad_submissions"] if b["reason"] == "below_threshold_coverage")
    return bad["path"], grz_of[bad["derived_from"]]


@pytest.fixture(scope="module")
def grz_home(tmp_path_factory: pytest.TempPathFactory):
    """The world's nodes, TANs and consents and a GRZ's client
    (:func:`tests.services.homes.prepare_grz_home`), running trust centre and platform."""
    base = tmp_path_factory.mktemp("grz-crash")
    config = config_for(base / "home")
    path, grz = _failing_submission()
    prepare_grz_home(config, grz, WORLD)
    env = {"PYTHONPATH": str(REPO)}
    with (running_service(config, "trust_center", log=base / "tc.log", env=env),
          running_service(config, "platform", log=base / "platform.log", env=env)):
        yield config, grz, path


@pytest.mark.slow
def test_grz_service__killed_mid_intake_rerun_reports_once(grz_home, tmp_path: Path) -> None:
    """The GRZ service is killed after the platform confirmed the failed submission's
    Prüfbericht, before the node filed the Meldebestätigung. The operator's rerun after the
    restart gets the same confirmation (the TAN makes the upload idempotent), files it once,
    and records the submission once."""
    import shutil
    from collections import Counter

    from genomlab.clients.nodes import NodeOperatorClient
    from genomlab.clients.oauth import ServiceUnavailable

    config, grz, path = grz_home
    folder = Institution(config, "grz", grz).directory
    inbox_id = (WORLD / path).name
    shutil.copytree(WORLD / path, folder / "inbox" / inbox_id)
    point = "node.confirmation_received"
    env = {"PYTHONPATH": str(REPO)}

    def confirmed() -> list[str]:
        return [e.payload["confirmation_id"] for e in Institution(config, "platform").ledger()
                .events(type="pruefbericht.confirmed") if e.stream == f"node:{grz}"]

    def filed() -> list[str]:
        return sorted(p.stem for p in (config.home / "hospitals").glob("*/meldebestaetigungen/*"))

    def grz_events() -> Counter:
        return Counter(e.type for e in Institution(config, "grz", grz).ledger().events()
                       if inbox_id in str(e.payload))

    with running_service(config, "grz", grz, log=tmp_path / "killed.log",
                         env={**env, "GL_CRASHPOINT": point}) as doomed:
        with pytest.raises(ServiceUnavailable, match="Server disconnected"):
            NodeOperatorClient(config, "grz", grz, folder).run_intake()
        assert doomed.process.wait(timeout=30) == -9, "the GRZ was not killed at " + point
    issued = confirmed()
    assert len(issued) == 1  # confirmed once, never answered to the node
    assert filed() == []
    killed = grz_events()

    with running_service(config, "grz", grz, log=tmp_path / "restarted.log", env=env):
        summary = NodeOperatorClient(config, "grz", grz, folder).run_intake()
        again = NodeOperatorClient(config, "grz", grz, folder).run_intake()
    assert summary["states"] == {inbox_id: "error"}, summary
    assert again["states"] in ({}, {inbox_id: "error"}), again
    assert confirmed() == issued  # not confirmed twice; the retry got the same confirmation
    assert filed() == issued  # filed once
    after = grz_events()
    assert after, "no intake event names " + inbox_id
    assert max(after.values()) == 1, after  # every intake event of it once
    assert set(killed) <= set(after)
    for kind in ("grz", "platform", "trust_center"):
        ledger = (Institution(config, "grz", grz) if kind == "grz"
                  else Institution(config, kind)).ledger()  # type: ignore[arg-type]
        assert ledger.verify(full=True).ok, kind
