"""People's credentials: person clients, person tokens and the one verification function."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab import clock
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.institution import Institution
from genomlab.platform.access_tokens import (
    AIRLOCK_AUDIENCE,
    DATA_SERVICE_AUDIENCE,
    PLATFORM_AUDIENCE,
    TOKEN_KEY,
    TRUST_CENTER_AUDIENCE,
    AccessTokenAuthority,
    InsufficientScope,
    InvalidToken,
    verify_person_token,
)
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import InvalidClient, authenticate_client, issue_client
from genomlab.platform.person_credentials import (
    PersonCredentials,
    authenticate_person,
    get_credentials_path,
    get_embedded_credentials_path,
    get_person_status,
    issue_person_credential,
    load_person_credentials,
    revoke_person_credential,
    save_person_credentials,
    withdraw_user,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def fixed_clock():
    with clock.use_clock(lambda: NOW):
        yield


def _token(world, user: str) -> tuple[str, str]:
    issued = issue_person_credential(world.config, user, actor="operator:test", replace=True)
    person = authenticate_person(world.config, issued.client_id, issued.client_secret)
    grant = AccessTokenAuthority(world.config).issue_person(person)
    return grant["access_token"], issued.client_id


def _public_key(config):
    return Institution(config, "platform").keys().signing_key(TOKEN_KEY).public_key()


def _look_up(config):
    return lambda user: get_person_status(config, user)


def test_verify_person_token__subject_is_the_user_for_every_person_audience(world, fixed_clock):
    token, client_id = _token(world, "dora")
    for audience in (PLATFORM_AUDIENCE, AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE):
        person = verify_person_token(
            token, _public_key(world.config), audience=audience, look_up=_look_up(world.config)
        )
        assert (person.user_id, person.client_id, person.roles, person.institution) == (
            "dora",
            client_id,
            ("decider",),
            "BfArM",
        )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["client_kind"], claims["scope"]) == ("dora", "person", "person")


def test_verify_person_token__trust_centre_audience_refused(world, fixed_clock):
    token, _ = _token(world, "dora")
    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        verify_person_token(
            token,
            _public_key(world.config),
            audience=TRUST_CENTER_AUDIENCE,
            look_up=_look_up(world.config),
        )


def test_verify_person_token__revoked_credential_refused(world, fixed_clock):
    token, client_id = _token(world, "dora")
    revoke_person_credential(world.config, client_id, actor="operator:test", reason="lost laptop")
    with pytest.raises(InvalidToken, match="no longer active"):
        AccessTokenAuthority(world.config).verify_person(token)


def test_verify_person_token__withdrawn_user_refused(world, fixed_clock):
    token, _ = _token(world, "dora")
    withdraw_user(world.config, "dora", actor="operator:test", reason="left BfArM")
    with pytest.raises(InvalidToken, match="withdrawn"):
        AccessTokenAuthority(world.config).verify_person(token)
    assert get_person_status(world.config, "dora")["roles"] == []


def test_verify_person_token__expired_refused(world):
    with clock.use_clock(lambda: NOW):
        token, _ = _token(world, "dora")
    with (
        clock.use_clock(lambda: NOW + timedelta(minutes=6)),
        pytest.raises(InvalidToken, match="expired"),
    ):
        AccessTokenAuthority(world.config).verify_person(token)


def test_verify_person_token__forged_with_another_key_refused(world, fixed_clock):
    _, client_id = _token(world, "dora")
    now = int(NOW.timestamp())
    forged = jwt.encode(
        {
            "iss": "urn:genomlab:platform",
            "sub": "dora",
            "client_id": client_id,
            "client_kind": "person",
            "aud": [PLATFORM_AUDIENCE],
            "scope": "person",
            "iat": now,
            "exp": now + 60,
            "jti": "x",
        },
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"typ": "at+jwt"},
    )
    with pytest.raises(InvalidToken, match="Signature"):
        AccessTokenAuthority(world.config).verify_person(forged)


def test_verify_person_token__node_token_is_not_a_person(world, fixed_clock):
    NodeRegistry(world.config).ensure_approved("VSTRKI", name="trust centre", actor="op")
    issued = issue_client(world.config, "VSTRKI", actor="op")
    authority = AccessTokenAuthority(world.config)
    grant = authority.issue(
        authenticate_client(world.config, issued.client_id, issued.client_secret)
    )
    with pytest.raises(InvalidToken, match="client_kind"):
        authority.verify_person(grant["access_token"])


def test_verify__person_token_is_not_a_node_client(world, fixed_clock):
    token, _ = _token(world, "dora")
    with pytest.raises(InvalidToken, match="node_id"):
        AccessTokenAuthority(world.config).verify(token, scope="status:read")


def test_issue_person__other_scope_refused(world, fixed_clock):
    issued = issue_person_credential(world.config, "dora", actor="operator:test")
    person = authenticate_person(world.config, issued.client_id, issued.client_secret)
    with pytest.raises(InsufficientScope):
        AccessTokenAuthority(world.config).issue_person(person, "status:read")


def test_authenticate_person__wrong_secret_or_revoked_refused(world):
    issued = issue_person_credential(world.config, "dora", actor="operator:test")
    with pytest.raises(InvalidClient, match="authentication failed"):
        authenticate_person(world.config, issued.client_id, issued.client_secret + "x")
    revoke_person_credential(
        world.config, issued.client_id, actor="operator:test", reason="lost laptop"
    )
    with pytest.raises(InvalidClient, match="not an active person credential"):
        authenticate_person(world.config, issued.client_id, issued.client_secret)


def test_issue_person_credential__refusals(world):
    with pytest.raises(NotFoundError, match="mallory"):
        issue_person_credential(world.config, "mallory", actor="operator:test")
    issue_person_credential(world.config, "dora", actor="operator:test")
    with pytest.raises(ConflictError, match="--replace"):
        issue_person_credential(world.config, "dora", actor="operator:test")
    withdraw_user(world.config, "tom", actor="operator:test", reason="left the project")
    with pytest.raises(PermissionDenied, match="withdrawn"):
        issue_person_credential(world.config, "tom", actor="operator:test")


def test_issue_person_credential__replace_revokes_the_old_one(world):
    first = issue_person_credential(world.config, "dora", actor="operator:test")
    second = issue_person_credential(world.config, "dora", actor="operator:test", replace=True)
    assert get_person_status(world.config, "dora")["active_credentials"] == [second.client_id]
    with pytest.raises(InvalidClient):
        authenticate_person(world.config, first.client_id, first.client_secret)


def test_save_person_credentials__file_is_0600_and_round_trips(world, tmp_path):
    path = get_embedded_credentials_path(world.config, "dora")
    assert path == world.config.home / "people" / "dora" / "credentials.json"
    credentials = PersonCredentials("person-1", "s3cret", "dora", None)
    save_person_credentials(path, credentials)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_person_credentials(path) == credentials


def test_load_person_credentials__errors_name_file_and_field(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text('{"kind": "person", "client_id": "person-1", "user_id": "dora"}')
    with pytest.raises(ValidationFailed, match=r"credentials.json: field client_secret"):
        load_person_credentials(path)
    with pytest.raises(NotFoundError, match="issue-credential"):
        load_person_credentials(tmp_path / "none.json")


def test_get_credentials_path__flag_then_environment_then_home(tmp_path):
    assert (
        get_credentials_path(tmp_path / "a.json", {"GENOMLAB_CREDENTIALS": "b"})
        == tmp_path / "a.json"
    )
    assert str(get_credentials_path(None, {"GENOMLAB_CREDENTIALS": "/x/b.json"})) == "/x/b.json"
    assert get_credentials_path(None, {}).name == "credentials.json"
    assert get_credentials_path(None, {}).parent.name == ".genomlab"


# --- the embedded default: no platform service, credentials verified in-process -----------------


def _cli(world, *args: str, env: dict[str, str]):
    from click.testing import CliRunner

    from genomlab.cli import main

    with clock.use_clock(world.clock):
        return CliRunner().invoke(
            main, ["platform", *args], env={"GENOMLAB_HOME": str(world.config.home), **env}
        )


def test_open_person_session__embedded_acts_as_credential_subject_only(world, tmp_path):
    import json

    from tests.platform.conftest import credentials_of

    app = world.under_review()
    alice = credentials_of(world.config, "alice")
    named = {"JUPYTERHUB_USER": "dora", "GENOMLAB_LOCAL_USER": "dora"}
    refused = _cli(
        world, "review", "approve", app, env={"GENOMLAB_CREDENTIALS": str(alice), **named}
    )
    assert refused.exit_code == 1
    assert "alice needs the role decider" in refused.output
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**json.loads(alice.read_text()), "user_id": "dora"}))
    refused = _cli(world, "review", "approve", app, "--credentials", str(edited), env={})
    assert "alice needs the role decider" in refused.output
    guessed = tmp_path / "guessed.json"
    guessed.write_text(json.dumps({**json.loads(alice.read_text()), "client_secret": "guess"}))
    refused = _cli(world, "review", "approve", app, "--credentials", str(guessed), env={})
    assert refused.exit_code == 1
    assert "client authentication failed" in refused.output
    dora = credentials_of(world.config, "dora")
    approved = _cli(
        world,
        "review",
        "approve",
        app,
        env={"GENOMLAB_CREDENTIALS": str(dora), "JUPYTERHUB_USER": "alice"},
    )
    assert approved.exit_code == 0, approved.output
    assert f"{app}: approved" in approved.output


def test_open_person_session__embedded_revoked_credential_refused(world):
    import json

    from tests.platform.conftest import credentials_of

    app = world.under_review()
    dora = credentials_of(world.config, "dora")
    revoke_person_credential(
        world.config,
        json.loads(dora.read_text())["client_id"],
        actor="operator:test",
        reason="lost laptop",
    )
    refused = _cli(world, "review", "approve", app, "--credentials", str(dora), env={})
    assert refused.exit_code == 1
    assert "not an active person credential" in refused.output
    assert world.wf.ledger.verify(full=True).ok


def test_users_cli__operator_issues_lists_revokes_and_withdraws(world, tmp_path):
    import json

    out = tmp_path / "dora.json"
    issued = _cli(world, "users", "issue-credential", "dora", "--out", str(out), env={})
    assert issued.exit_code == 0, issued.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    client_id = json.loads(out.read_text())["client_id"]
    assert client_id in issued.output
    assert json.loads(out.read_text())["client_secret"] not in issued.output
    listed = json.loads(_cli(world, "users", "credentials", "--format", "json", env={}).output)
    assert [(r["user_id"], r["client_id"], r["status"]) for r in listed] == [
        ("dora", client_id, "active")
    ]
    assert "secret_hash" not in listed[0]
    again = _cli(world, "users", "issue-credential", "dora", "--out", str(out), env={})
    assert again.exit_code == 1
    assert "--replace" in again.output
    revoked = _cli(
        world, "users", "revoke-credential", client_id, "--reason", "lost laptop", env={}
    )
    assert revoked.output.strip() == f"{client_id} of dora revoked"
    withdrawn = _cli(world, "users", "withdraw-user", "dora", "--reason", "left BfArM", env={})
    assert withdrawn.output.strip() == "dora withdrawn"
    events = [(e.type, e.actor) for e in world.wf.ledger.events() if e.stream == "person:dora"]
    assert [t for t, _ in events] == [
        "person.credential.issued",
        "person.credential.revoked",
        "platform.user.withdrawn",
    ]
    assert all(actor.startswith("operator:") for _, actor in events)


def test_get_operator_actor__the_effective_account_not_the_environment(monkeypatch):
    import os
    import pwd

    from genomlab.platform.person_credentials import get_operator_actor

    monkeypatch.setenv("USER", "dora")
    monkeypatch.setenv("LOGNAME", "dora")
    assert get_operator_actor() == f"operator:{pwd.getpwuid(os.geteuid()).pw_name}"
