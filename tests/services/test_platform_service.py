"""The platform as a service: OAuth client credentials, RFC 9068 tokens, BfArM's Prüfbericht API.

All requests go over HTTPS to the real ``genomlab serve platform`` subprocess of
:func:`tests.services.conftest.platform_service`; nodes are approved and suspended through the
same service functions the CLI calls. Each test uses nodes of its own.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from genomlab import clock
from genomlab.clients.oauth import ClientCredentials, ServiceEndpoint, ServiceUnavailable
from genomlab.clients.platform import PruefberichtClient
from genomlab.institution import Institution
from genomlab.keys import load_public_key
from genomlab.ledger import canonical_json
from genomlab.platform.access_tokens import PLATFORM_AUDIENCE, TOKEN_KEY, AccessTokenAuthority
from genomlab.platform.confirmations import (
    confirmation_bytes,
    tan_hash,
    verify_confirmation_bytes,
)
from genomlab.platform.node_projection import confirmations_table
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import IssuedClient, authenticate_client, issue_client
from genomlab.platform.store import read_platform
from tests.conftest import REPO
from tests.services.conftest import (
    RunningService,
    approved_node_client,
    make_pruefbericht,
    platform_ledger_report,
    platform_state,
)

TOKEN = "/oauth2/token"
UPLOAD = "/api/pruefbericht/upload"


def _form_token(service: RunningService, client: IssuedClient, scope: str | None = None) -> str:
    with service.client() as http:
        answer = http.post(TOKEN, data={"grant_type": "client_credentials",
                                        "client_id": client.client_id,
                                        "client_secret": client.client_secret,
                                        **({"scope": scope} if scope else {})})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _upload(service: RunningService, token: str, report: dict) -> tuple[int, dict]:
    with service.client() as http:
        answer = http.post(UPLOAD, json=report, headers={"Authorization": f"bearer {token}"})
    return answer.status_code, answer.json()


def _upload_as_new_node(service: RunningService, node_id: str,
                        report: dict) -> tuple[IssuedClient, int, dict]:
    """Approve ``node_id``, issue its client, take a token by form fields and upload ``report``."""
    client = approved_node_client(service.config, node_id)
    return client, *_upload(service, _form_token(service, client), report)


# --- token endpoint -----------------------------------------------------------------------------


def test_token__approved_client_by_basic_gets_rfc9068_jwt(platform_service):
    client = approved_node_client(platform_service.config, "GRZT01001")
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    with platform_service.client() as http:
        answer = http.post(TOKEN, data={"grant_type": "client_credentials"},
                           headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.text
    grant = answer.json()
    assert (grant["token_type"], grant["expires_in"], grant["scope"]) == (
        "Bearer", 300, "pruefbericht:upload status:read")  # the client's platform scopes
    assert answer.headers["cache-control"] == "no-store"
    pem = Institution(platform_service.config, "platform").keys().public_key_path(TOKEN_KEY)
    token = grant["access_token"]
    claims = jwt.decode(token, load_public_key(pem.read_bytes()), algorithms=["EdDSA"],
                        audience=PLATFORM_AUDIENCE, options={"verify_exp": False})
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    assert (claims["sub"], claims["client_id"], claims["node_id"]) == (
        client.client_id, client.client_id, "GRZT01001")
    assert claims["exp"] - claims["iat"] == 300


def test_token__form_fields_authenticate_as_grzctl_sends_them(platform_service):
    _, status, body = _upload_as_new_node(platform_service, "GRZT01002",
                                          make_pruefbericht("GRZT01002", "form"))
    assert status == 200, body


@pytest.mark.parametrize("case", ["unknown client", "wrong secret", "suspended node",
                                  "revoked node", "revoked client"])
def test_token__refused_without_change(platform_service, case):
    config = platform_service.config
    node = {"unknown client": "GRZT02001", "wrong secret": "GRZT02002",
            "suspended node": "GRZT02003", "revoked node": "GRZT02004",
            "revoked client": "GRZT02005"}[case]
    client = approved_node_client(config, node)
    client_id, secret = client.client_id, client.client_secret
    if case == "unknown client":
        client_id = "grzt02001-000000000000"
    elif case == "wrong secret":
        secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    elif case == "suspended node":
        NodeRegistry(config).suspend(node, actor="bfarm-op", reason="audit finding")
    elif case == "revoked node":
        NodeRegistry(config).revoke(node, actor="bfarm-op", reason="closed")
    else:
        issue_client(config, node, actor="bfarm-op", replace=True)
    before = platform_state(config)
    with platform_service.client() as http:
        answer = http.post(TOKEN, data={"grant_type": "client_credentials",
                                        "client_id": client_id, "client_secret": secret})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert platform_state(config) == before
    assert platform_ledger_report(config).startswith("ok")


def test_token__other_grant_type_and_missing_grant_refused(platform_service):
    client = approved_node_client(platform_service.config, "GRZT02006")
    with platform_service.client() as http:
        password = http.post(TOKEN, data={"grant_type": "password", "username": "x",
                                          "client_id": client.client_id,
                                          "client_secret": client.client_secret})
        missing = http.post(TOKEN, data={"client_id": client.client_id,
                                         "client_secret": client.client_secret})
    assert (password.status_code, password.json().get("error")) == (400, "unsupported_grant_type")
    assert (missing.status_code, missing.json().get("error")) == (400, "invalid_request")


def test_token__scope_may_narrow_never_widen(platform_service):
    client = approved_node_client(platform_service.config, "GRZT02007")
    asked = {"grant_type": "client_credentials", "client_id": client.client_id,
             "client_secret": client.client_secret}
    with platform_service.client() as http:
        narrowed = http.post(TOKEN, data={**asked, "scope": "pruefbericht:upload"})
        widened = http.post(TOKEN, data={**asked, "scope": "pruefbericht:upload linkage:map"})
    assert (narrowed.status_code, narrowed.json().get("scope")) == (200, "pruefbericht:upload")
    assert (widened.status_code, widened.json().get("error")) == (400, "invalid_scope")


# --- bearer tokens at the upload ----------------------------------------------------------------


def test_upload__token_issued_before_suspension_stops_working_even_after_reapproval(
        platform_service):
    config = platform_service.config
    client = approved_node_client(config, "GRZT03001")
    token = _form_token(platform_service, client)
    assert _upload(platform_service, token, make_pruefbericht("GRZT03001", "s1"))[0] == 200
    NodeRegistry(config).suspend("GRZT03001", actor="bfarm-op", reason="audit finding")
    before = platform_state(config)
    status, body = _upload(platform_service, token, make_pruefbericht("GRZT03001", "s2"))
    assert (status, body.get("error")) == (401, "invalid_token")
    assert "suspended" in body["error_description"]
    assert platform_state(config) == before
    NodeRegistry(config).approve("GRZT03001", actor="bfarm-op", reason="fixed")
    status, body = _upload(platform_service, token, make_pruefbericht("GRZT03001", "s2"))
    assert (status, body.get("error")) == (401, "invalid_token")  # the replayed old token
    assert "current approval" in body["error_description"]
    fresh = _form_token(platform_service, client)
    assert _upload(platform_service, fresh, make_pruefbericht("GRZT03001", "s2"))[0] == 200


def test_upload__expired_token_refused(platform_service):
    config = platform_service.config
    client = approved_node_client(config, "GRZT03002")
    identity = authenticate_client(config, client.client_id, client.client_secret)
    # A day, not just past the 5-minute lifetime: under faketime (the shifted-clock pass) each
    # process starts at the faked time, so the service's clock lags this one by the minutes
    # the test session has run.
    issued_at = clock.now() - timedelta(days=1)
    with clock.use_clock(lambda: issued_at):
        old = AccessTokenAuthority(config).issue(identity)["access_token"]
    before = platform_state(config)
    status, body = _upload(platform_service, old, make_pruefbericht("GRZT03002", "e1"))
    assert (status, body.get("error"), body.get("error_description")) == (
        401, "invalid_token", "access token: expired")
    assert platform_state(config) == before


def test_upload__token_of_a_replaced_client_refused(platform_service):
    config = platform_service.config
    client = approved_node_client(config, "GRZT03003")
    token = _form_token(platform_service, client)
    issue_client(config, "GRZT03003", actor="bfarm-op", replace=True)
    status, body = _upload(platform_service, token, make_pruefbericht("GRZT03003", "r1"))
    assert (status, body.get("error")) == (401, "invalid_token")


def test_upload__forged_or_foreign_tokens_refused(platform_service):
    config = platform_service.config
    client = approved_node_client(config, "GRZT03004")
    token = _form_token(platform_service, client)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["node_id"] = "GRZT03999"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    identity = authenticate_client(config, client.client_id, client.client_secret)
    foreign = AccessTokenAuthority(config).issue(identity, "pseudonyms:request")  # trust centre's
    own_key = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                         headers={"typ": "at+jwt"})
    for bad in (f"{header}.{forged_payload}.{signature}", foreign["access_token"], own_key,
                "x.y.z"):
        status, body = _upload(platform_service, bad, make_pruefbericht("GRZT03004", "f1"))
        assert status == 401, (bad, body)


def test_upload__platform_signed_token_of_another_type_refused(platform_service):
    # the header is read from the one parse of the token (with the signature check), and its
    # typ still counts: a platform-signed JWT that is not an access token is no upload token
    config = platform_service.config
    client = approved_node_client(config, "GRZT03011")
    claims = jwt.decode(_form_token(platform_service, client), options={"verify_signature": False})
    key = Institution(config, "platform").keys().signing_key(TOKEN_KEY)
    for typ in ("JWT", None):
        other = jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": typ})
        status, body = _upload(platform_service, other, make_pruefbericht("GRZT03011", "t1"))
        assert (status, body.get("error_description")) == (
            401, "access token: header typ is not at+jwt"), typ
    assert _upload(platform_service, _form_token(platform_service, client),
                   make_pruefbericht("GRZT03011", "t1"))[0] == 200


def test_upload__token_without_upload_scope_forbidden(platform_service):
    _, status, body = _upload_as_new_node(platform_service, "DSTEST01",
                                          make_pruefbericht("GRZT03005", "d1"))
    assert (status, body.get("error")) == (403, "insufficient_scope")


def test_upload__report_for_another_node_refused_and_recorded(platform_service):
    config = platform_service.config
    client, status, body = _upload_as_new_node(platform_service, "GRZT03006",
                                               make_pruefbericht("GRZT03007", "o1"))
    assert status == 400
    assert "dataNodeId names GRZT03007" in body["error_description"]
    refusals = [(e.actor, e.payload["node_id"]) for e in Institution(config, "platform")
                .ledger().events() if e.type == "pruefbericht.refused"
                and "GRZT03007" in e.payload["reason"]]
    assert refusals == [(client.client_id, "GRZT03006")]


def test_upload__records_checked_before_the_report_and_nothing_recorded(platform_service):
    # the client and node are checked in the upload's own write transaction, but still before
    # the report: a suspended node's report for another node is not refused as a report
    # (that would be recorded as pruefbericht.refused), only its token
    config = platform_service.config
    client = approved_node_client(config, "GRZT03008")
    token = _form_token(platform_service, client)
    NodeRegistry(config).suspend("GRZT03008", actor="bfarm-op", reason="audit finding")
    before = platform_state(config)
    reports: list[Any] = [make_pruefbericht("GRZT03009", "b1"), {"SubmittedCase": {}}, ["a"]]
    for report in reports:
        status, body = _upload(platform_service, token, report)
        assert (status, body.get("error")) == (401, "invalid_token"), (report, body)
        assert "suspended" in body["error_description"]
    assert platform_state(config) == before


def test_pruefbericht_client__keeps_one_connection_for_many_uploads(platform_service,
                                                                     monkeypatch):
    config = platform_service.config
    issued = approved_node_client(config, "GRZT03010")
    opened: list[str] = []
    make = ServiceEndpoint.http

    def counted(endpoint: ServiceEndpoint) -> httpx.Client:
        opened.append(endpoint.url)
        return make(endpoint)

    monkeypatch.setattr(ServiceEndpoint, "http", counted)
    pem = Institution(config, "platform").keys().public_key_path("confirmation").read_bytes()
    credentials = ClientCredentials(issued.client_id, issued.client_secret, "GRZT03010")
    with PruefberichtClient(config, credentials) as uploads:
        tokens_opened = len(opened)  # nothing yet: the token is asked at the first upload
        documents = [uploads.receive_pruefbericht(make_pruefbericht("GRZT03010", f"k{i}"))
                     for i in range(3)]
        # one connection for the uploads (the token request has one of its own)
        assert len(opened) - tokens_opened == 2, opened
        uploads.close()
        again = uploads.receive_pruefbericht(make_pruefbericht("GRZT03010", "k0"))
        assert len(opened) - tokens_opened == 3  # after close(): a new one
    for document in documents:
        body = verify_confirmation_bytes(confirmation_bytes(document), pem)
        assert body["data_node_id"] == "GRZT03010"
    assert again.body == documents[0].body  # the same Prüfbericht: the same Meldebestätigung


class _DropsSecondRequest(httpx.BaseTransport):
    """A connection the platform drops after one answer (e.g. it restarted on the same port)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests == 2:
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_pruefbericht_client__kept_connection_that_fails_is_replaced_once(platform_service,
                                                                          monkeypatch):
    config = platform_service.config
    issued = approved_node_client(config, "GRZT03012")
    made: list[httpx.Client] = []
    make = ServiceEndpoint.http

    def first_one_drops(endpoint: ServiceEndpoint) -> httpx.Client:
        real = make(endpoint)
        if not made:  # the uploads' first connection (the token request comes after it)
            real = httpx.Client(base_url=endpoint.url, timeout=30, transport=_DropsSecondRequest(
                httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(endpoint.ca)))))
        made.append(real)
        return real

    monkeypatch.setattr(ServiceEndpoint, "http", first_one_drops)
    credentials = ClientCredentials(issued.client_id, issued.client_secret, "GRZT03012")
    with PruefberichtClient(config, credentials) as uploads:
        first = uploads.receive_pruefbericht(make_pruefbericht("GRZT03012", "d1"))
        second = uploads.receive_pruefbericht(make_pruefbericht("GRZT03012", "d2"))
        assert len(made) == 3  # uploads, token, the replacement of the dropped one
        assert made[0].is_closed
        third = uploads.receive_pruefbericht(make_pruefbericht("GRZT03012", "d3"))
        assert len(made) == 3  # the replacement is kept
    ids = {d.body["confirmation_id"] for d in (first, second, third)}
    assert len(ids) == 3
    # a new connection that fails is not tried again: the platform is unavailable
    with PruefberichtClient(config, credentials) as uploads:
        uploads.tokens.get()
        refused: list[str] = []

        def nobody_answers(endpoint: ServiceEndpoint) -> httpx.Client:
            refused.append(endpoint.url)
            return httpx.Client(base_url="https://127.0.0.1:9", timeout=5)

        monkeypatch.setattr(ServiceEndpoint, "http", nobody_answers)
        with pytest.raises(ServiceUnavailable, match="platform"):
            uploads.receive_pruefbericht(make_pruefbericht("GRZT03012", "d4"))
        assert len(refused) == 1


# --- the official grzctl ------------------------------------------------------------------------


def _grzctl() -> str:
    """BfArM's ``grzctl`` (own venv: ``.ci/setup --test-tools``; or ``$PYTEST_GRZCTL``)."""
    for candidate in (os.environ.get("PYTEST_GRZCTL"), str(REPO / ".grzctl-venv/bin/grzctl"),
                      shutil.which("grzctl")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("grzctl not found: run .ci/setup --test-tools or set PYTEST_GRZCTL")


def _run_grzctl_submit(service: RunningService, client: IssuedClient, report: dict,
                       folder: Path) -> subprocess.CompletedProcess[str]:
    """``grzctl pruefbericht submit`` as a GRZ runs it, configured with ``client``."""
    key = folder / "inbox.key"
    key.write_text("unused by pruefbericht submit\n")
    c4gh = "-----BEGIN CRYPT4GH PUBLIC KEY-----\nAAAA\n-----END CRYPT4GH PUBLIC KEY-----"
    config = {
        "leistungserbringer": {"260914050": {"inbox_buckets": {"inbox": {
            "private_key_path": str(key)}}}},
        "archives": {"consented": {"s3": {"bucket": "consented"}, "public_key": c4gh},
                     "non_consented": {"s3": {"bucket": "non-consented"}, "public_key": c4gh}},
        "db": {"database_url": f"sqlite:///{folder / 'grz.sqlite'}",
               "author": {"name": "grz-admin"}},
        "pruefbericht": {"authorization_url": service.url + TOKEN,
                         "api_base_url": service.url + "/api/pruefbericht",
                         "client_id": client.client_id, "client_secret": client.client_secret},
        "identifiers": {"grz": report["SubmittedCase"]["dataNodeId"]},
    }
    (folder / "grzctl.yaml").write_text(json.dumps(config))  # YAML is a superset of JSON
    (folder / "pruefbericht.json").write_text(json.dumps(report))
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(service.ca)}
    # no timeout= here: subprocess waits with time.sleep, which fails under libfaketime (the
    # shifted-clock CI pass); pytest-timeout bounds the test instead
    return subprocess.run(
        [_grzctl(), "--config", str(folder / "grzctl.yaml"), "pruefbericht", "submit",
         "--pruefbericht-file", str(folder / "pruefbericht.json"),
         "--submission-id", "260914050_2024-10-01_0a7b84e9", "--no-update-db"],
        env=env, capture_output=True, text=True, check=False)


def test_grzctl_submit__approved_grz_gets_meldebestaetigung(platform_service, tmp_path):
    config = platform_service.config
    client = approved_node_client(config, "GRZT04001")
    report = make_pruefbericht("GRZT04001", "grzctl-accepted")
    result = _run_grzctl_submit(platform_service, client, report, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Prüfbericht submitted successfully" in result.stderr
    with read_platform(config) as conn:
        row = conn.execute(select(confirmations_table).where(
            confirmations_table.c.tan_hash == tan_hash(report["SubmittedCase"]["tan"]))).one()
    assert (row.node_id, row.data_category) == ("GRZT04001", "genomic")
    events = [e for e in Institution(config, "platform").ledger().events()
              if e.type == "pruefbericht.confirmed"
              and e.payload["confirmation_id"] == row.confirmation_id]
    assert [e.actor for e in events] == [client.client_id]
    assert platform_ledger_report(config).startswith("ok")


def test_upload__answer_is_the_meldebestaetigung_a_health_insurer_verifies(platform_service):
    config = platform_service.config
    _, status, document = _upload_as_new_node(platform_service, "GRZT04002",
                                              make_pruefbericht("GRZT04002", "insurer"))
    assert status == 200
    pem = Institution(config, "platform").keys().public_key_path("confirmation").read_bytes()
    body = verify_confirmation_bytes(canonical_json(document).encode(), pem)
    assert body["data_node_id"] == "GRZT04002"


def test_grzctl_submit__suspended_grz_refused_and_nothing_changes(platform_service, tmp_path):
    config = platform_service.config
    client = approved_node_client(config, "GRZT04003")
    NodeRegistry(config).suspend("GRZT04003", actor="bfarm-op", reason="audit finding")
    before = platform_state(config)
    result = _run_grzctl_submit(platform_service, client,
                                make_pruefbericht("GRZT04003", "grzctl-refused"), tmp_path)
    assert result.returncode != 0
    assert "401" in result.stderr
    assert "submitted successfully" not in result.stderr
    assert platform_state(config) == before
    assert platform_ledger_report(config).startswith("ok")


# --- status look-ups (what the trust centre asks) -----------------------------------------------


def _status_token(service: RunningService, node_id: str) -> str:
    """A ``status:read`` token of a trust-centre client (node ``VST…``)."""
    return _form_token(service, approved_node_client(service.config, node_id))


def _get(service: RunningService, path: str, token: str | None) -> tuple[int, dict]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with service.client() as http:
        answer = http.get(path, headers=headers)
    return answer.status_code, answer.json()


def test_node_status__follows_the_platforms_decisions(platform_service):
    config = platform_service.config
    token = _status_token(platform_service, "VSTT05001")
    client = approved_node_client(config, "GRZT05001")
    status, body = _get(platform_service, "/api/nodes/GRZT05001/status", token)
    approved_at = NodeRegistry(config).get_node("GRZT05001")["changed_at"]
    assert (status, body) == (200, {"node_id": "GRZT05001", "kind": "grz", "status": "approved",
                                    "approved_at": approved_at,
                                    "active_clients": [client.client_id]})
    NodeRegistry(config).suspend("GRZT05001", actor="bfarm-op", reason="audit finding")
    status, body = _get(platform_service, "/api/nodes/GRZT05001/status", token)
    assert (status, body["status"], body["approved_at"]) == (200, "suspended", None)
    assert _get(platform_service, "/api/nodes/GRZT05999/status", token)[0] == 404


def test_node_status__needs_a_status_read_token(platform_service):
    grz_token = _form_token(platform_service,  # a GRZ's upload token (its client may also
                            approved_node_client(platform_service.config, "GRZT05002"),
                            "pruefbericht:upload")  # ask status:read: its node service does)
    status, body = _get(platform_service, "/api/nodes/GRZT05002/status", grz_token)
    assert (status, body["error"]) == (403, "insufficient_scope")
    status, body = _get(platform_service, "/api/nodes/GRZT05002/status", None)
    assert status == 401


def test_approval_status__names_the_current_approval_and_its_end(platform_service):
    from genomlab.messages import compute_document_digest
    from genomlab.platform.applications.demo import run_applications_demo
    from genomlab.platform.applications.entitlements import get_signed_approval
    from genomlab.platform.applications.workflow import Workflow

    config = platform_service.config
    token = _status_token(platform_service, "VSTT05002")
    demo = run_applications_demo(config)
    path = f"/api/approvals/{demo.application_id}/status"
    digest = compute_document_digest(get_signed_approval(config, demo.application_id))
    assert _get(platform_service, path, token) == (200, {
        "application_id": demo.application_id, "project_id": demo.project_id,
        "status": "approved", "approval_digest": digest})
    Workflow(config).revoke("dora", demo.application_id, "breach of duties")
    status, body = _get(platform_service, path, token)
    assert (status, body["status"], body["approval_digest"]) == (200, "revoked", digest)
    assert _get(platform_service, "/api/approvals/APP-999999/status", token)[0] == 404
