"""How long a service may reuse the platform's "yes" about a person's token (issue 15).

In-process, with an injected clock (:mod:`genomlab.clock`): the platform's records are the real
store, asked through a stand-in for the service's platform client that counts the questions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genomlab import clock
from genomlab.config import ConfigError, GenomlabConfig, load_config
from genomlab.institution import Institution
from genomlab.platform.access_tokens import (
    DATA_SERVICE_AUDIENCE,
    TOKEN_KEY,
    AccessTokenAuthority,
    verify_person_token,
)
from genomlab.platform.applications.workflow import Workflow
from genomlab.platform.person_credentials import (
    authenticate_person,
    get_person_status,
    issue_person_credential,
    revoke_person_credential,
    withdraw_user,
)
from genomlab.services.oauth_http import OAuthError
from genomlab.services.person_check import PersonCheck, VerifiedTokens

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class CountingPlatform:
    """The service's platform client, answering from the platform store; counts questions."""

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config
        self.asked = 0

    def verify_person(self, token: str, *, audience: str, public_key: Any) -> Any:
        def look_up(user: str) -> dict[str, Any]:
            self.asked += 1
            return get_person_status(self.config, user)

        return verify_person_token(token, public_key, audience=audience, look_up=look_up)


@pytest.fixture
def now() -> Iterator[Clock]:
    tick = Clock()
    with clock.use_clock(tick):
        yield tick


@pytest.fixture
def platform(config: GenomlabConfig, now: Clock) -> CountingPlatform:
    wf = Workflow(config)
    wf.bootstrap_admin("root", institution="BfArM")
    wf.register_user("root", "tom", institution="Uni Test")
    return CountingPlatform(config)


def token_for(config: GenomlabConfig, user: str, *, replace: bool = False) -> tuple[str, str]:
    """A fresh credential of ``user`` and a token for it: ``(client_id, token)``."""
    issued = issue_person_credential(config, user, actor="operator:test", replace=replace)
    person = authenticate_person(config, issued.client_id, issued.client_secret)
    return issued.client_id, AccessTokenAuthority(config).issue_person(person)["access_token"]


def make_check(config: GenomlabConfig, platform: CountingPlatform, ttl: float) -> PersonCheck:
    key = Institution(config, "platform").keys().signing_key(TOKEN_KEY).public_key()
    return PersonCheck(DATA_SERVICE_AUDIENCE, platform, public_key=key, ttl=ttl)  # type: ignore[arg-type]


def test_verify__withdrawn_person_refused_at_most_ttl_later(config, platform, now):
    check = make_check(config, platform, ttl=2.0)
    _, token = token_for(config, "tom")
    assert check.verify(f"Bearer {token}").user_id == "tom"
    withdraw_user(config, "tom", actor="operator:test", reason="left the project")
    now.advance(1.9)  # within the TTL: the platform's earlier "yes" (documented staleness)
    assert check.verify(f"Bearer {token}").user_id == "tom"
    assert platform.asked == 1
    now.advance(0.1)  # the TTL since the platform was asked: asked again, refused
    with pytest.raises(OAuthError) as refused:
        check.verify(f"Bearer {token}")
    assert refused.value.status == 401
    assert "withdrawn" in str(refused.value.body())
    assert platform.asked == 2
    now.advance(0.1)  # a refusal is never reused: asked again, refused again
    with pytest.raises(OAuthError):
        check.verify(f"Bearer {token}")
    assert platform.asked == 3


def test_verify__revoked_credential_refused_at_most_ttl_later(config, platform, now):
    check = make_check(config, platform, ttl=1.0)
    client_id, token = token_for(config, "tom")
    check.verify(f"Bearer {token}")
    revoke_person_credential(config, client_id, actor="operator:test", reason="lost laptop")
    now.advance(0.5)
    check.verify(f"Bearer {token}")
    now.advance(0.5)
    with pytest.raises(OAuthError, match="no longer active") as refused:
        check.verify(f"Bearer {token}")
    assert refused.value.status == 401


def test_verify__ttl_zero_asks_every_time(config, platform, now):
    check = make_check(config, platform, ttl=0.0)
    _, token = token_for(config, "tom")
    check.verify(f"Bearer {token}")
    withdraw_user(config, "tom", actor="operator:test", reason="left the project")
    with pytest.raises(OAuthError, match="withdrawn"):
        check.verify(f"Bearer {token}")
    assert platform.asked == 2


def test_verify__another_token_of_the_person_is_asked_about(config, platform, now):
    """Only the very token the platform confirmed is reused: the token of a new credential
    (which the earlier answer does not list) is asked about, and accepted."""
    check = make_check(config, platform, ttl=2.0)
    _, first = token_for(config, "tom")
    check.verify(f"Bearer {first}")
    check.verify(f"Bearer {first}")
    assert platform.asked == 1
    _, second = token_for(config, "tom", replace=True)
    assert check.verify(f"Bearer {second}").user_id == "tom"
    assert platform.asked == 2


def test_verify__clock_gone_back_asks_again(config, platform, now):
    check = make_check(config, platform, ttl=2.0)
    _, token = token_for(config, "tom")
    check.verify(f"Bearer {token}")
    now.advance(-0.5)
    check.verify(f"Bearer {token}")
    assert platform.asked == 2


def test_verify__expired_token_not_reused(config, platform, now):
    """A reused answer ends with the token: an expired token is refused (401)."""
    check = make_check(config, platform, ttl=2.0)
    _, token = token_for(config, "tom")
    now.advance(299)  # person tokens live 5 minutes
    check.verify(f"Bearer {token}")
    now.advance(1.5)  # inside the TTL, but after the token's expiry
    with pytest.raises(OAuthError, match="expired"):
        check.verify(f"Bearer {token}")


def test_verified_tokens__ttl_above_bound_refused():
    with pytest.raises(ValueError, match=r"0 to 2\.0 s"):
        VerifiedTokens(2.5)


def test_load_config__person_status_ttl_above_bound_refused(tmp_path):
    environ = {"GENOMLAB_HOME": str(tmp_path), "GENOMLAB_SERVICES__PERSON_STATUS_TTL_SECONDS": "3"}
    with pytest.raises(ConfigError, match="person_status_ttl_seconds"):
        load_config(environ=environ)
    environ["GENOMLAB_SERVICES__PERSON_STATUS_TTL_SECONDS"] = "0.5"
    assert load_config(environ=environ).services.person_status_ttl_seconds == 0.5
