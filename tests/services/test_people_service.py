"""People act at the platform service by a verified credential, never by a name they type.

One real ``genomlab serve platform`` subprocess for the module, started with
``JUPYTERHUB_USER``, ``GENOMLAB_LOCAL_USER`` and ``REMOTE_USER`` set to the decider ``dora``
(an environment variable naming a person must count for nothing). The platform's users and roles
are the platform tests' (:func:`tests.platform.conftest.populate`); every person gets a
credential as the operator issues it. Every refusal is checked to change nothing: the row count
of every platform table (ledger included) is the same afterwards and the ledger verifies in full.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.clients.oauth import ClientCredentials
from genomlab.clients.platform import PlatformStatusClient
from genomlab.platform.access_tokens import AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE
from genomlab.platform.applications import Workflow
from genomlab.platform.person_credentials import (
    PersonCredentials,
    get_embedded_credentials_path,
    issue_person_credential,
    revoke_person_credential,
    save_person_credentials,
)
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.platform.conftest import make_form, populate
from tests.services.conftest import (
    RunningService,
    approved_node_client,
    platform_ledger_report,
    platform_state,
)

TOKEN = "/oauth2/token"
NAME_ENV = {"JUPYTERHUB_USER": "dora", "GENOMLAB_LOCAL_USER": "dora", "REMOTE_USER": "dora"}
"""The service process's environment names the decider: it must not matter."""


@pytest.fixture(scope="module")
def people_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    base = tmp_path_factory.mktemp("people-service")
    config = config_for(base / "home")
    populate(Workflow(config))
    for user in ("alice", "tom", "hanna", "dora", "ute", "kurt", "root"):
        issue_person_credential(config, user, actor="operator:test")
    with running_service(
        config, "platform", log=base / "service.log", env={"PYTHONPATH": str(REPO), **NAME_ENV}
    ) as service:
        yield RunningService(service.url, service.ca, config)


def _credential(service: RunningService, user: str) -> PersonCredentials:
    """A fresh credential of ``user`` (replacing the one before), as the operator issues it."""
    issued = issue_person_credential(service.config, user, actor="operator:test", replace=True)
    return PersonCredentials(issued.client_id, issued.client_secret, user)


def _token(service: RunningService, credentials: PersonCredentials) -> str:
    with service.client() as http:
        answer = http.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _token_of(service: RunningService, user: str) -> str:
    return _token(service, _credential(service, user))


def _post(
    service: RunningService,
    path: str,
    token: str | None,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
):
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    with service.client() as http:
        return http.post(path, json=body or {}, headers={**auth, **(headers or {})}, params=params)


def _under_review(service: RunningService, applicant: str = "alice", **changes) -> str:
    """An application of ``applicant`` submitted and assigned to hanna, all through the
    service with each person's own token."""
    applicant_token = _token_of(service, applicant)
    form = make_form(**changes).model_dump(mode="json")
    answer = _post(service, "/api/applications", applicant_token, {"form": form, "submit": True})
    assert answer.status_code == 200, answer.text
    application_id = answer.json()["application_id"]
    assigned = _post(
        service, f"/api/applications/{application_id}/assign", _token_of(service, "hanna")
    )
    assert assigned.status_code == 200, assigned.text
    return application_id


@pytest.fixture
def unchanged(people_service: RunningService) -> Iterator[None]:
    """The test's requests change no platform table, and the ledger verifies afterwards."""
    before = platform_state(people_service.config)
    yield
    assert platform_state(people_service.config) == before
    assert platform_ledger_report(people_service.config).startswith("ok:")


def _status(service: RunningService, application_id: str) -> str:
    from genomlab.platform.applications.queries import get_application_detail

    return str(get_application_detail(service.config, application_id).row["status"])


# --- tokens --------------------------------------------------------------------------------------


def test_token__person_credential_gets_token_naming_the_user(people_service):
    token = _token_of(people_service, "dora")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["client_kind"], claims["scope"]) == ("dora", "person", "person")
    assert set(claims["aud"]) == {"urn:genomlab:platform", AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE}
    with people_service.client() as http:
        me = http.get("/api/me", headers={"Authorization": f"Bearer {token}", "X-User": "alice"})
    assert me.status_code == 200, me.text
    assert (me.json()["user_id"], me.json()["roles"]) == ("dora", ["decider"])


def test_person_status__another_service_verifies_a_person_through_the_platform(people_service):
    """What the airlock and the data service do at each request: the token with the published
    key, then ``GET /api/people/{user}/status`` with their own client."""
    node = approved_node_client(people_service.config, "VSTPPL01")
    status_client = PlatformStatusClient(
        people_service.config, ClientCredentials(node.client_id, node.client_secret, node.node_id)
    )
    credentials = _credential(people_service, "hanna")
    token = _token(people_service, credentials)
    person = status_client.verify_person(token, audience=AIRLOCK_AUDIENCE)
    assert (person.user_id, person.roles) == ("hanna", ("handler", "output_checker"))
    revoke_person_credential(
        people_service.config, credentials.client_id, actor="operator:test", reason="lost laptop"
    )
    from genomlab.platform.access_tokens import InvalidToken

    with pytest.raises(InvalidToken, match="no longer active"):
        status_client.verify_person(token, audience=AIRLOCK_AUDIENCE)


def test_person_status__needs_status_scope(people_service):
    with people_service.client() as http:
        answer = http.get(
            "/api/people/dora/status",
            headers={"Authorization": f"Bearer {_token_of(people_service, 'alice')}"},
        )
    assert answer.status_code == 401  # a person's token is no node client's token


# --- the acceptance: self-approval, approval "as" someone else, revoked credentials ------------


def test_approve__self_approval_refused_403_and_nothing_changes(people_service):
    # ute (Uni Tübingen) has every staff role; her own application she may not decide
    application_id = _under_review(people_service, applicant="ute", team=())
    ute = _token_of(people_service, "ute")
    before = platform_state(people_service.config)
    answer = _post(people_service, f"/api/applications/{application_id}/approve", ute)
    assert answer.status_code == 403, answer.text
    assert "conflict of interest" in answer.json()["error_description"]
    assert platform_state(people_service.config) == before
    assert _status(people_service, application_id) == "under_review"
    assert platform_ledger_report(people_service.config).startswith("ok:")


@pytest.mark.parametrize("naming", ["header", "body", "query", "service_environment"])
def test_approve__applicant_naming_a_decider_refused_403(people_service, naming):
    application_id = _under_review(people_service)
    alice = _token_of(people_service, "alice")
    before = platform_state(people_service.config)
    headers, body, params = {}, {}, None
    if naming == "header":
        headers = {
            "X-User": "dora",
            "X-Remote-User": "dora",
            "Remote-User": "dora",
            "X-Forwarded-User": "dora",
            "JupyterHub-User": "dora",
        }
    elif naming == "body":
        body = {"user": "dora", "actor": "dora", "as": "dora", "user_id": "dora", "decider": "dora"}
    elif naming == "query":
        params = {"user": "dora", "as": "dora"}
    # "service_environment": the service runs with JUPYTERHUB_USER=dora (module fixture)
    answer = _post(
        people_service, f"/api/applications/{application_id}/approve", alice, body, headers, params
    )
    assert answer.status_code == 403, answer.text
    assert "alice needs the role decider" in answer.json()["error_description"]
    assert platform_state(people_service.config) == before
    assert _status(people_service, application_id) == "under_review"
    assert platform_ledger_report(people_service.config).startswith("ok:")


@pytest.mark.usefixtures("unchanged")
def test_approve__name_without_token_refused_401(people_service):
    application_id = "APP-000001"
    for headers in (
        {"X-User": "dora"},
        {"X-Remote-User": "dora"},
        {"Authorization": "Basic ZG9yYTo="},
    ):
        answer = _post(
            people_service,
            f"/api/applications/{application_id}/approve",
            None,
            {"user": "dora"},
            headers,
        )
        assert answer.status_code == 401, answer.text


def test_approve__forged_token_naming_a_decider_refused_401(people_service):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    application_id = _under_review(people_service)
    token = _token_of(people_service, "alice")
    claims = {**jwt.decode(token, options={"verify_signature": False}), "sub": "dora"}
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"typ": "at+jwt"}
    )
    before = platform_state(people_service.config)
    answer = _post(people_service, f"/api/applications/{application_id}/approve", forged)
    assert answer.status_code == 401, answer.text
    assert platform_state(people_service.config) == before


def test_approve__revoked_credential_token_refused_401(people_service):
    application_id = _under_review(people_service)
    credentials = _credential(people_service, "dieter")
    token = _token(people_service, credentials)
    revoke_person_credential(
        people_service.config, credentials.client_id, actor="operator:test", reason="lost laptop"
    )
    before = platform_state(people_service.config)
    answer = _post(people_service, f"/api/applications/{application_id}/approve", token)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    with people_service.client() as http:  # and it gets no new token
        refused = http.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
        )
    assert refused.status_code == 401
    assert platform_state(people_service.config) == before
    assert _status(people_service, application_id) == "under_review"
    assert platform_ledger_report(people_service.config).startswith("ok:")


def test_approve__withdrawn_user_token_refused_401(people_service):
    from genomlab.platform.person_credentials import withdraw_user

    application_id = _under_review(people_service)
    Workflow(people_service.config).register_user("root", "dagmar", institution="BfArM")
    Workflow(people_service.config).grant_role("root", "dagmar", "decider")
    token = _token_of(people_service, "dagmar")
    withdraw_user(people_service.config, "dagmar", actor="operator:test", reason="left BfArM")
    answer = _post(people_service, f"/api/applications/{application_id}/approve", token)
    assert answer.status_code == 401, answer.text
    assert _status(people_service, application_id) == "under_review"


def test_approve__decider_credential_approves_and_is_the_ledger_actor(people_service):
    application_id = _under_review(people_service)
    answer = _post(
        people_service,
        f"/api/applications/{application_id}/approve",
        _token_of(people_service, "dora"),
        {"user": "alice", "note": "fine"},
        {"X-User": "alice"},
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["actor"]) == ("approved", "dora")
    assert _status(people_service, application_id) == "approved"
    from genomlab.platform.applications.queries import get_application_detail

    history = get_application_detail(people_service.config, application_id).history
    assert [(e["type"], e["actor"]) for e in history][-1] == ("approved", "dora")
    assert platform_ledger_report(people_service.config).startswith("ok:")


# --- the rest of the workflow through the service ---------------------------------------------


def test_workflow__committee_vote_comment_and_reject_as_token_subjects(people_service):
    application_id = _under_review(people_service)
    hanna, kurt, dora = (_token_of(people_service, u) for u in ("hanna", "kurt", "dora"))
    app = f"/api/applications/{application_id}"
    assert (
        _post(people_service, app + "/request-committee", hanna, {"note": "ethics"}).status_code
        == 200
    )
    assert (
        _post(
            people_service, app + "/comments", hanna, {"comment": "Please attach the ethics vote."}
        ).status_code
        == 200
    )
    vote = _post(people_service, app + "/votes", kurt, {"vote": "approve", "user": "klara"})
    assert (vote.status_code, vote.json()["actor"]) == (200, "kurt"), vote.text
    again = _post(people_service, app + "/votes", kurt, {"vote": "approve"})
    assert again.status_code == 409, again.text  # kurt voted; naming klara gave no second vote
    assert _post(people_service, app + "/votes", hanna, {"vote": "approve"}).status_code == 403
    rejected = _post(people_service, app + "/reject", dora, {"reason": "no ethics vote"})
    assert rejected.status_code == 200, rejected.text
    assert _status(people_service, application_id) == "rejected"


def test_workflow__applicant_withdraws_own_application_others_cannot(people_service):
    application_id = _under_review(people_service)
    app = f"/api/applications/{application_id}"
    tom = _post(
        people_service,
        app + "/close",
        _token_of(people_service, "tom"),
        {"reason": "changed my mind"},
    )
    assert tom.status_code == 403, tom.text  # a team member, not the applicant nor a handler
    alice = _post(
        people_service,
        app + "/close",
        _token_of(people_service, "alice"),
        {"reason": "changed our plans"},
    )
    assert alice.status_code == 200, alice.text
    assert _status(people_service, application_id) == "closed"


def test_workflow__bad_body_after_token_check_400(people_service):
    alice = _token_of(people_service, "alice")
    with people_service.client() as http:
        answer = http.post(
            "/api/applications",
            content=b"{not json",
            headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
        )
        stranger = http.post("/api/applications", content=b"{not json")
    assert answer.status_code == 400
    assert stranger.status_code == 401


# --- the CLI as the service's client ------------------------------------------------------------


def _cli(service: RunningService, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        main, list(args), env={"GENOMLAB_HOME": str(service.config.home), **(env or {})}
    )


def _credentials_file(service: RunningService, user: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{user}.json"
    save_person_credentials(path, _credential(service, user))
    return path


def test_cli_approve__user_flag_gone_and_environment_names_count_for_nothing(
    people_service, tmp_path
):
    application_id = _under_review(people_service)
    alice = _credentials_file(people_service, "alice", tmp_path)
    before = platform_state(people_service.config)
    flag = _cli(
        people_service,
        "platform",
        "review",
        "approve",
        application_id,
        "--credentials",
        str(alice),
        "--user",
        "dora",
    )
    assert flag.exit_code == 2
    assert "No such option '--user'" in flag.output
    named = _cli(
        people_service,
        "platform",
        "review",
        "approve",
        application_id,
        env={"GENOMLAB_CREDENTIALS": str(alice), **NAME_ENV},
    )
    assert named.exit_code == 1
    assert "alice needs the role decider" in named.output
    assert platform_state(people_service.config) == before
    verified = _cli(people_service, "ledger", "verify", "-i", "platform", "--full")
    assert verified.exit_code == 0, verified.output


def test_cli_approve__file_user_id_edited_to_a_decider_counts_for_nothing(people_service, tmp_path):
    application_id = _under_review(people_service)
    alice = _credentials_file(people_service, "alice", tmp_path)
    data = json.loads(alice.read_text())
    alice.write_text(json.dumps({**data, "user_id": "dora"}))
    os.chmod(alice, 0o600)
    before = platform_state(people_service.config)
    result = _cli(
        people_service, "platform", "review", "approve", application_id, "--credentials", str(alice)
    )
    assert result.exit_code == 1
    assert "alice needs the role decider" in result.output
    assert platform_state(people_service.config) == before


def test_cli_approve__decider_credentials_file_approves(people_service, tmp_path):
    application_id = _under_review(people_service)
    dora = _credentials_file(people_service, "dora", tmp_path)
    result = _cli(
        people_service,
        "platform",
        "review",
        "approve",
        application_id,
        "--credentials",
        str(dora),
        env={"JUPYTERHUB_USER": "alice"},
    )
    assert result.exit_code == 0, result.output
    assert f"{application_id}: approved" in result.output
    assert _status(people_service, application_id) == "approved"


def test_cli_issue_credential__writes_0600_file_in_people_folder(people_service):
    result = _cli(people_service, "platform", "users", "issue-credential", "klara")
    assert result.exit_code == 0, result.output
    path = get_embedded_credentials_path(people_service.config, "klara")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    data = json.loads(path.read_text())
    assert data["token_url"] == people_service.url.rstrip("/") + "/oauth2/token"
    assert data["platform_url"] == people_service.url.rstrip("/")
    assert data["ca_pem"] == people_service.ca.read_text()
    assert data["client_id"].startswith("person-")


def test_cli_close__account_without_the_home_reaches_the_service_through_its_file(
    people_service, tmp_path
):
    """A researcher's account in a separated deployment can read neither ``<home>/services/``
    nor the platform's store: the credentials file's URL and CA certificate lead to the
    service, which acts as the credential's subject."""
    application_id = _under_review(people_service)
    issued = _cli(
        people_service,
        "platform",
        "users",
        "issue-credential",
        "alice",
        "--replace",
        "--out",
        str(tmp_path / "alice.json"),
    )
    assert issued.exit_code == 0, issued.output
    elsewhere = tmp_path / "researcher-home"
    elsewhere.mkdir()
    result = CliRunner().invoke(
        main,
        [
            "platform",
            "apply",
            "close",
            application_id,
            "--reason",
            "no longer needed",
            "--credentials",
            str(tmp_path / "alice.json"),
        ],
        env={"GENOMLAB_HOME": str(elsewhere)},
    )
    assert result.exit_code == 0, result.output
    assert _status(people_service, application_id) == "closed"
    assert not (elsewhere / "platform").exists()  # nothing of the platform was opened here


def test_workflow__case_file_document_attached_by_applicant_only(people_service):
    import base64
    import hashlib

    application_id = _under_review(people_service)
    content = b"SYNTHETIC ethics vote: no objections.\n"
    body = {
        "kind": "ethics_vote",
        "name": "ethics.txt",
        "content_base64": base64.b64encode(content).decode(),
        "user": "alice",
    }
    tom = _post(
        people_service,
        f"/api/applications/{application_id}/documents",
        _token_of(people_service, "tom"),
        body,
    )
    assert tom.status_code == 403, tom.text  # team member, neither applicant nor handler
    alice = _post(
        people_service,
        f"/api/applications/{application_id}/documents",
        _token_of(people_service, "alice"),
        body,
    )
    assert alice.status_code == 200, alice.text
    assert alice.json()["sha256"] == hashlib.sha256(content).hexdigest()


def test_get_verified_user__the_credential_subject_not_the_environment(people_service, tmp_path):
    from genomlab.platform.person_session import get_verified_user

    path = _credentials_file(people_service, "kurt", tmp_path)
    assert (
        get_verified_user(
            people_service.config,
            None,
            {"GENOMLAB_CREDENTIALS": str(path), "JUPYTERHUB_USER": "dora"},
        )
        == "kurt"
    )


def test_tokens__person_and_node_tokens_do_not_cross(people_service):
    """A person's token uploads no Prüfbericht; a node's token acts for no person."""
    from tests.services.conftest import make_pruefbericht

    person = _token_of(people_service, "alice")
    with people_service.client() as http:
        upload = http.post(
            "/api/pruefbericht/upload",
            json=make_pruefbericht("GRZP00001", "x"),
            headers={"Authorization": f"bearer {person}"},
        )
    assert upload.status_code == 401, upload.text
    node = approved_node_client(people_service.config, "GRZP00002")
    with people_service.client() as http:
        grant = http.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": node.client_id,
                "client_secret": node.client_secret,
            },
        ).json()
    before = platform_state(people_service.config)
    answer = _post(
        people_service,
        "/api/applications",
        grant["access_token"],
        {"form": make_form().model_dump(mode="json")},
    )
    assert answer.status_code == 401, answer.text
    assert "client_kind" in answer.json()["error_description"]
    assert platform_state(people_service.config) == before


# --- the demo's application through the service, with the person client ---------------------


def _client(service: RunningService, user: str):
    from genomlab.clients.platform import PlatformPersonClient

    return PlatformPersonClient(service.config, _credential(service, user))


def _application_events(service: RunningService, application_id: str) -> list[tuple[str, str]]:
    from genomlab.institution import Institution

    ledger = Institution(service.config, "platform").ledger()
    return [(e.type, e.actor) for e in ledger.events()
            if e.type.startswith("application.")
            and e.payload.get("application_id") == application_id]


def test_demo_application__through_the_service_approved_with_verified_actors(people_service):
    """``genomlab demo``'s application path (:func:`file_demo_application`) with each person's
    own platform client: approved, and every ledger event's actor is the token's subject."""
    from genomlab.platform.applications.demo import DEMO_DOCUMENTS, file_demo_application

    demo = file_demo_application(lambda user: _client(people_service, user))
    assert _status(people_service, demo.application_id) == "approved"
    assert _application_events(people_service, demo.application_id) == [
        ("application.drafted", "alice"),
        *[("application.document_attached", "alice")] * len(DEMO_DOCUMENTS),
        ("application.submitted", "alice"),
        ("application.handler_assigned", "hanna"),
        ("application.review_requested", "hanna"),
        ("application.decision_requested", "hanna"),
        ("application.vote_recorded", "kurt"),
        ("application.approved", "dora"),
    ]
    assert platform_ledger_report(people_service.config).startswith("ok:")


def test_client_approve__self_approval_and_missing_role_refused_nothing_changes(people_service):
    from genomlab.errors import PermissionDenied

    ute = _client(people_service, "ute")  # every staff role, but her own application
    application_id = ute.create_draft(make_form(team=()))
    ute.submit(application_id)
    _client(people_service, "hanna").assign_handler(application_id)
    tom = _client(people_service, "tom")  # credential issued before the comparison
    before = platform_state(people_service.config)
    with pytest.raises(PermissionDenied, match="conflict of interest"):
        ute.approve(application_id, note="my own")
    with pytest.raises(PermissionDenied, match="tom needs the role decider"):
        tom.approve(application_id)
    assert platform_state(people_service.config) == before
    assert _status(people_service, application_id) == "under_review"
    assert platform_ledger_report(people_service.config).startswith("ok:")


def test_client_approve__forged_token_refused_401(people_service):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from genomlab.clients.oauth import InvalidCredentials

    application_id = _under_review(people_service)
    alice = _client(people_service, "alice")
    endpoint = alice.tokens.endpoint
    claims = {**jwt.decode(alice.tokens.get(), options={"verify_signature": False}),
              "sub": "dora"}
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"typ": "at+jwt"})

    class Forged:
        """alice's client with a token naming dora, signed with another key."""

        def endpoint(self):
            return endpoint()

        def headers(self):
            return {"Authorization": f"Bearer {forged}"}

        def forget(self):
            pass

    alice.tokens = Forged()  # type: ignore[assignment]
    before = platform_state(people_service.config)
    with pytest.raises(InvalidCredentials, match="HTTP 401"):
        alice.approve(application_id)
    assert platform_state(people_service.config) == before
    assert _status(people_service, application_id) == "under_review"
