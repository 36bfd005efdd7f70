"""Visas from approvals at the platform service: the JWKS and a person's own visas.

One real ``genomlab serve platform`` subprocess for the module. alice applied with tom on the
team and dora approved (:func:`tests.platform.conftest.approve_application`). The valid visas
verify with a plain JWT library against the service's JWKS over loopback HTTPS (PyJWT's
``PyJWKClient`` trusting only the service's CA); expired, revoked, wrong-dataset and forged
visas are refused by :func:`genomlab.platform.visas.verify_visa`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab import clock
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.entitlements import get_approval_status
from genomlab.platform.person_credentials import issue_person_credential
from genomlab.platform.visas import (
    JWKS_PATH,
    InvalidVisa,
    dataset_urn,
    decode_unverified,
    get_visa_public_key,
    issue_visas,
    project_dataset,
    verify_visa,
)
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.platform.conftest import approve_application, make_form, populate
from tests.services.conftest import RunningService

TOKEN = "/oauth2/token"


@pytest.fixture(scope="module")
def visa_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningService, str, str, str]]:
    base = tmp_path_factory.mktemp("visa-service")
    config = config_for(base / "home")
    project_id, application_id = approve_application(config)
    wf = Workflow(config)  # a second approval that will be revoked, and one long past
    revoked_id = wf.create_draft("alice", make_form(title="Revoked project"))
    wf.submit("alice", revoked_id)
    wf.assign_handler("hanna", revoked_id)
    wf.approve("dora", revoked_id)
    for user in ("alice", "tom", "ute"):
        issue_person_credential(config, user, actor="operator:test")
    with running_service(
        config, "platform", log=base / "service.log", env={"PYTHONPATH": str(REPO)}
    ) as service:
        yield (
            RunningService(service.url, service.ca, config),
            project_id,
            application_id,
            revoked_id,
        )


def _person_token(service: RunningService, user: str) -> str:
    issued = issue_person_credential(service.config, user, actor="operator:test", replace=True)
    with service.client() as http:
        answer = http.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": issued.client_id,
                "client_secret": issued.client_secret,
            },
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _my_visas(service: RunningService, user: str) -> list[str]:
    with service.client() as http:
        answer = http.get(
            "/api/me/visas", headers={"Authorization": f"Bearer {_person_token(service, user)}"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == user
    return list(answer.json()["ga4gh_passport_v1"])


def _jwks_client(service: RunningService) -> jwt.PyJWKClient:
    context = ssl.create_default_context(cafile=str(service.ca))
    return jwt.PyJWKClient(service.url + JWKS_PATH, ssl_context=context)


def _visa_for(visas: list[str], dataset: str) -> str:
    return next(v for v in visas if decode_unverified(v)["ga4gh_visa_v1"]["value"] == dataset)


def test_get_me_visas__team_members_get_one_visa_per_dataset_that_pyjwt_verifies_by_jwks(
    visa_service: tuple[RunningService, str, str, str],
) -> None:
    service, project_id, application_id, _ = visa_service
    jwks = _jwks_client(service)
    for user in ("alice", "tom"):
        visas = _my_visas(service, user)
        datasets = {decode_unverified(v)["ga4gh_visa_v1"]["value"] for v in visas}
        assert project_dataset(project_id) in datasets
        assert {dataset_urn("grz-wgs"), dataset_urn("kdk-clinical")} <= datasets
        for visa in visas:
            key = jwks.get_signing_key_from_jwt(visa)
            claims = jwt.decode(
                visa, key.key, algorithms=["EdDSA"], options={"verify_exp": False}
            )  # plain PyJWT, nothing of ours
            assert claims["sub"] == user
            assert claims["ga4gh_visa_v1"]["type"] == "ControlledAccessGrants"
            assert claims["ga4gh_visa_v1"]["by"] == "dac"
            assert {"asserted", "source"} <= set(claims["ga4gh_visa_v1"])
            assert jwt.get_unverified_header(visa)["jku"] == service.url + JWKS_PATH
        visa = _visa_for(visas, project_dataset(project_id))
        approval = decode_unverified(visa)["genomlab_approval"]
        assert approval["application_id"] == application_id
        exp = datetime.fromtimestamp(decode_unverified(visa)["exp"], UTC)
        assert exp.time().isoformat() == "00:00:00"  # the day after the approval's end date
        verified = verify_visa(
            visa,
            jwks.get_signing_key_from_jwt(visa).key,
            dataset=project_dataset(project_id),
            user_id=user,
            look_up=lambda a: get_approval_status(service.config, a),
        )
        assert verified.project_id == project_id
    assert _my_visas(service, "ute") == []  # no approval: no visa


def test_get_me_visas__no_forged_or_other_persons_token(
    visa_service: tuple[RunningService, str, str, str],
) -> None:
    service = visa_service[0]
    forged = jwt.encode(
        {"sub": "alice", "iss": "urn:genomlab:platform"},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"typ": "at+jwt"},
    )
    with service.client() as http:
        assert http.get("/api/me/visas").status_code == 401
        assert (
            http.get("/api/me/visas", headers={"Authorization": f"Bearer {forged}"}).status_code
            == 401
        )
        answer = http.get(
            "/api/me/visas",
            params={"user": "alice"},
            headers={"Authorization": f"Bearer {_person_token(service, 'ute')}", "X-User": "alice"},
        )
    assert answer.status_code == 200
    assert answer.json() == {"sub": "ute", "ga4gh_passport_v1": []}


def test_verify_visa__expired_revoked_wrong_dataset_and_forged_are_refused(
    visa_service: tuple[RunningService, str, str, str],
) -> None:
    service, project_id, _, revoked_id = visa_service
    config = service.config
    jwks = _jwks_client(service)

    def check(visa: str, dataset: str) -> None:
        verify_visa(
            visa,
            jwks.get_signing_key_from_jwt(visa).key,
            dataset=dataset,
            look_up=lambda a: get_approval_status(config, a),
        )

    visas = _my_visas(service, "tom")
    good = _visa_for(visas, project_dataset(project_id))
    check(good, project_dataset(project_id))
    # wrong dataset: a valid visa for another project's release or another dataset
    with pytest.raises(InvalidVisa, match="grants"):
        check(good, project_dataset("P-OTHER"))
    with pytest.raises(InvalidVisa, match="grants"):
        check(_visa_for(visas, dataset_urn("grz-wgs")), project_dataset(project_id))
    # forged: the claims of a good visa signed with another key under the platform's kid
    claims = decode_unverified(good)
    header = jwt.get_unverified_header(good)
    forged = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"typ": "JWT", "kid": header["kid"]},
    )
    with pytest.raises(InvalidVisa, match=r"[Ss]ignature"):
        check(forged, project_dataset(project_id))
    # tampered: a good visa's payload edited (another subject)
    head, _, rest = good.partition(".")
    body, _, signature = rest.partition(".")
    other = jwt.utils.base64url_encode(jwt.utils.base64url_decode(body).replace(b'"tom"', b'"ute"'))
    with pytest.raises(InvalidVisa, match=r"[Ss]ignature"):
        check(f"{head}.{other.decode()}.{signature}", project_dataset(project_id))
    # revoked: valid before, refused after the revocation (well before its exp)
    revoked_project = get_approval_status(config, revoked_id)["project_id"]
    revoked_visa = _visa_for(_my_visas(service, "tom"), project_dataset(str(revoked_project)))
    check(revoked_visa, project_dataset(str(revoked_project)))
    Workflow(config).revoke("dora", revoked_id, "breach of § 64e (11b) duties")
    with pytest.raises(InvalidVisa, match="is revoked"):
        check(revoked_visa, project_dataset(str(revoked_project)))
    assert all(
        decode_unverified(v)["genomlab_approval"]["application_id"] != revoked_id
        for v in _my_visas(service, "tom")
    )  # and the platform issues it no more


def test_verify_visa__expired_visa_is_refused(tmp_path: Path) -> None:
    config = config_for(tmp_path / "home")
    approved_at = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
    with clock.use_clock(lambda: approved_at):
        wf = Workflow(config)
        populate(wf)
        application_id = wf.create_draft("alice", make_form())
        project_id = wf.submit("alice", application_id)
        wf.assign_handler("hanna", application_id)
        wf.approve("dora", application_id, valid_until=date(2020, 12, 31))
    [visa] = [
        v
        for v in issue_visas(config, "tom", at=datetime(2020, 6, 1, tzinfo=UTC))
        if decode_unverified(v)["ga4gh_visa_v1"]["value"] == project_dataset(project_id)
    ]
    assert decode_unverified(visa)["exp"] == int(datetime(2021, 1, 1, tzinfo=UTC).timestamp())
    key = get_visa_public_key(config)

    def check() -> str:
        return verify_visa(
            visa,
            key,
            dataset=project_dataset(project_id),
            look_up=lambda a: get_approval_status(config, a),
        ).user_id

    with clock.use_clock(lambda: datetime(2020, 12, 31, 23, 59, tzinfo=UTC)):
        assert check() == "tom"
    with (
        clock.use_clock(lambda: datetime(2021, 1, 1, tzinfo=UTC)),
        pytest.raises(InvalidVisa, match="expired"),
    ):
        check()
