"""A running service takes up a rotation of the platform's token key without a restart.

Real ``genomlab serve trust-center`` and ``genomlab serve platform`` subprocesses over one bare
home (no cohort, no approval: the caller's token is all that is checked). A data-service
client's request without an approval is answered 400 ("field approval") once its token is
accepted, 401 when the token is refused. ``genomlab ledger rotate-key platform-token`` runs
while both services run: the platform signs with the new key, the trust centre accepts it and
refuses the old key's token; a key file swapped without a recorded rotation is taken by
neither.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab.anchors import rotate_platform_key
from genomlab.clients.oauth import ClientCredentials, get_credentials_path, save_client_credentials
from genomlab.clients.platform import get_published_token_key
from genomlab.clients.trust_center import LINKAGE_PATH, LINKAGE_SCOPE, TrustCenterClient
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.keys import key_id, public_key_pem
from genomlab.platform.access_tokens import TOKEN_KEY
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.services.conftest import approved_node_client

TRUST_CENTER_NODE = "VSTRKI"
DATA_SERVICE_NODE = "DSROT01"


@dataclass(frozen=True)
class Running:
    config: GenomlabConfig
    url: str
    ca: Path
    data_service: TrustCenterClient

    def post(self, token: str) -> httpx.Response:
        """A linkage request without an approval: 400 if ``token`` is accepted, else 401."""
        with httpx.Client(base_url=self.url, timeout=30,
                          verify=ssl.create_default_context(cafile=str(self.ca))) as http:
            return http.post(LINKAGE_PATH, json={},
                             headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("key-rotation")
    config = config_for(base / "home")
    keys = Institution(config, "platform").keys()
    keys.signing_key("approval")
    published = get_published_token_key(config)  # as the platform service publishes it
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_bytes(keys.public_key_path(TOKEN_KEY).read_bytes())
    tc = approved_node_client(config, TRUST_CENTER_NODE)
    save_client_credentials(get_credentials_path(Institution(config, "trust_center").directory),
                            ClientCredentials(tc.client_id, tc.client_secret, TRUST_CENTER_NODE))
    ds = approved_node_client(config, DATA_SERVICE_NODE)
    env = {"PYTHONPATH": str(REPO)}
    # the trust centre first: under faketime its clock then never lags the platform's
    with running_service(config, "trust_center", log=base / "tc.log", env=env) as service, \
            running_service(config, "platform", log=base / "platform.log", env=env):
        yield Running(config, service.url, service.ca, TrustCenterClient(
            config, ClientCredentials(ds.client_id, ds.client_secret, DATA_SERVICE_NODE),
            scope=LINKAGE_SCOPE))


def fresh_token(running: Running) -> str:
    """A new token of the data service's client from the running platform service."""
    running.data_service.tokens.forget()
    return running.data_service.tokens.get()


def assert_accepted(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_description"].startswith("request: field approval"), answer.text


def test_rotate_key__running_services_take_the_new_token_key_refuse_old_and_swapped(
        running: Running) -> None:
    config = running.config
    old_token = fresh_token(running)
    assert_accepted(running.post(old_token))
    rotation = rotate_platform_key(config, TOKEN_KEY, actor="operator:test", reason="yearly")
    new_id = rotation.new.removeprefix("sha256:")[:16]
    new_token = fresh_token(running)  # the running platform signs with the new key
    assert jwt.get_unverified_header(new_token)["kid"] == new_id
    assert jwt.get_unverified_header(old_token)["kid"] == rotation.old.removeprefix(
        "sha256:")[:16]
    assert_accepted(running.post(new_token))  # the running trust centre took it up
    answer = running.post(old_token)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token"), answer.text

    # a public key file swapped without a rotation: refused, the anchored key stays in use
    published = get_published_token_key(config)
    genuine = published.read_bytes()
    attacker = Ed25519PrivateKey.generate()
    claims = jwt.decode(new_token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "jti": "f" * 32}, attacker, algorithm="EdDSA",
                        headers={"typ": "at+jwt", "kid": key_id(attacker.public_key())})
    published.write_bytes(public_key_pem(attacker.public_key()))
    try:
        answer = running.post(forged)
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token"), answer.text
        assert_accepted(running.post(new_token))
    finally:
        published.write_bytes(genuine)
    assert running.post(forged).status_code == 401

    # the platform's private key swapped without a rotation: the platform keeps its key
    private = Institution(config, "platform").directory / "keys" / "oauth.ed25519.pem"
    kept = private.read_bytes()
    private.write_bytes(attacker.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    try:
        token = fresh_token(running)
    finally:
        private.write_bytes(kept)
    assert jwt.get_unverified_header(token)["kid"] == new_id
    assert_accepted(running.post(token))
