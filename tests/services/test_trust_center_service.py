"""The trust centre as a service: pseudonyms for approved nodes, linkage maps for the approved
cohort only, and the platform asked (not told) about nodes and approvals.

One home per module: the synthetic world's KDK intake (three KDKs, 46 consented clinical
datasets, no Hail), its consents, the demo's platform staff and a clinical-only application for
rare diseases; then real ``genomlab serve platform`` and ``genomlab serve trust-center``
subprocesses. Callers use :class:`genomlab.clients.trust_center.TrustCenterClient` with clients
the platform issued, as a node or the data service would.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab import clock
from genomlab.cli import main
from genomlab.clients.oauth import ClientCredentials, InvalidCredentials
from genomlab.clients.platform import get_published_token_key, load_platform_token_key
from genomlab.clients.trust_center import (
    EXCHANGE_PATH,
    LINKAGE_PATH,
    LINKAGE_SCOPE,
    PSEUDONYM_SCOPE,
    TrustCenterClient,
)
from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import get_node_readers
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.keys import load_public_key, public_key_pem
from genomlab.ledger import DEFAULT_CHECKPOINT_EVERY
from genomlab.messages import APPROVAL_KIND, CohortCriteria, SignedDocument, sign_document
from genomlab.platform.access_tokens import (
    TOKEN_KEY,
    TRUST_CENTER_AUDIENCE,
    decode_access_token,
)
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.entitlements import get_signed_approval
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION, ApplicationForm
from genomlab.platform.applications.store import APPROVAL_KEY
from genomlab.platform.applications.workflow import Workflow
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import issue_client
from genomlab.services.process import running_service
from genomlab.trust_center.approvals import (
    check_approval,
    load_platform_approval_key,
    platform_approval_key_path,
)
from genomlab.trust_center.service import TrustCenter, verify_linkage_map
from genomlab.trusted_keys import TrustedKeyMismatch
from tests.conftest import REPO, config_for
from tests.services.conftest import approved_node_client, platform_state
from tests.services.people import state_changes, store_state
from tests.trust_center.conftest import make_kvnr

WORLD = REPO / "data_samples" / "world"
LE_IK = "260840108"
TRUST_CENTER_NODE = "VSTRKI"
DATA_SERVICE_NODE = "DSTC01"


@dataclass(frozen=True)
class Services:
    """The running platform and trust centre over one home, and what the tests need of it."""

    config: GenomlabConfig
    platform_url: str
    platform_ca: Path
    url: str
    ca: Path
    application_id: str
    data_service: TrustCenterClient

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            verify=ssl.create_default_context(cafile=str(self.ca)))


def _file_clinical_application(config: GenomlabConfig) -> str:
    """File and approve a clinical-only application for rare diseases (the demo's staff)."""
    wf = Workflow(config)
    form = ApplicationForm(
        title="Phenotypes of rare diseases", lay_summary="Which symptoms go together?",
        scientific_abstract="Counts of HPO terms among rare-disease cases.",
        purposes=("research",), duo_permission="HMB", duo_modifiers=("PUB",),
        data_categories=("clinical",), clinical_fields=("sex", "hpo_terms"),
        criteria=CohortCriteria(disease_types=("rare",)), duration_months=12,
        level="individual",
        individual_justification=("Phenotype co-occurrence within one person needs individual "
                                  "records; aggregates cannot show it."),
        ethics_vote_reference="EK Tübingen 002/2026BO1", accepted_terms=TERMS_OF_USE_VERSION,
        team=("tom",))
    application_id = wf.create_draft("alice", form)
    wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.request_committee_review("hanna", application_id, note="Standard review.")
    wf.record_vote("kurt", application_id, "approve", "Justified.")
    # in force since yesterday: under faketime each service process starts at the faked time,
    # so its date may lag this process's by one (a session that crosses midnight)
    wf.approve("dora", application_id, valid_from=clock.today() - timedelta(days=1),
               note="Committee in favour.")
    return application_id


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
        run_kdk_intake,
    )

    base = tmp_path_factory.mktemp("trust-center-service")
    world = base / "world"
    shutil.copytree(WORLD, world)
    config = config_for(base / "home")
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    run_kdk_intake(config, [world / "kdk"])
    run_applications_demo(config)
    application_id = _file_clinical_application(config)
    NodeRegistry(config).ensure_approved(TRUST_CENTER_NODE, name="RKI", actor="bfarm-op")
    saved = CliRunner().invoke(main, ["platform", "nodes", "issue-client", TRUST_CENTER_NODE,
                                      "--save"], env={"GENOMLAB_HOME": str(config.home)})
    assert saved.exit_code == 0, saved.output  # trust_center/platform-client.json
    data_service = approved_node_client(config, DATA_SERVICE_NODE)
    env = {"PYTHONPATH": str(REPO)}
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)  # publishes oauth.pub.pem
    # The trust centre starts first, so under faketime (each process starts at the faked time)
    # its clock runs ahead of the platform's, never behind: the platform's tokens are then
    # never "issued in the future" for it.
    with running_service(config, "trust_center", log=base / "tc.log", env=env) as tc, \
            running_service(config, "platform", log=base / "platform.log", env=env) as platform:
        client = TrustCenterClient(config, ClientCredentials(
            data_service.client_id, data_service.client_secret, DATA_SERVICE_NODE),
            scope=LINKAGE_SCOPE)
        yield Services(config, platform.url, platform.ca, tc.url, tc.ca, application_id, client)


def trust_center_state(config: GenomlabConfig) -> dict[str, int]:
    """Row count of every trust-centre table (its ledger included)."""
    return store_state(config, "trust_center")


def trust_center_events(config: GenomlabConfig) -> list:
    return list(Institution(config, "trust_center").ledger().events())


def ledgers_verify(config: GenomlabConfig) -> bool:
    """``genomlab ledger verify --full`` of the trust centre and the platform."""
    return all(Institution(config, kind).ledger().verify(full=True).ok
               for kind in ("trust_center", "platform"))


def node_client(services: Services, node_id: str) -> TrustCenterClient:
    issued = approved_node_client(services.config, node_id)
    return TrustCenterClient(services.config, ClientCredentials(
        issued.client_id, issued.client_secret, node_id), scope=PSEUDONYM_SCOPE)


def new_case_numbers(config: GenomlabConfig, i: int) -> tuple[str, str]:
    """VNg and VNk of a new synthetic person, as the LE asks for them."""
    numbers = TrustCenter(config).request_case_numbers(
        kvnr=make_kvnr(900 + i), arbeitsnummer=f"AN-SVC-{i}", le_ik=LE_IK, le_name="UK Test",
        actor=f"le:{LE_IK}")
    return numbers.genomic, numbers.clinical


def clinical_pseudonyms(config: GenomlabConfig, *, disease_type: str | None = None) -> list[str]:
    """The KDKs' consented clinical datasets (of ``disease_type``) as the data service sees them."""
    _, kdks = get_node_readers(config)
    return sorted(p for kdk in kdks for p, d in kdk.get_dataset_attributes()
                  .select("pseudonym", "disease_type").rows()
                  if disease_type is None or d == disease_type)


# --- pseudonyms for nodes -----------------------------------------------------------------------


def test_exchange_case_number__approved_grz_and_kdk_over_https(services):
    config = services.config
    grz, kdk = node_client(services, "GRZS01001"), node_client(services, "KDKS01001")
    vng, vnk = new_case_numbers(config, 1)
    genome = grz.exchange_case_number(vng, node_id="GRZS01001", domain="genomic")
    clinical = kdk.exchange_case_number(vnk, node_id="KDKS01001", domain="clinical")
    assert (genome[:5], clinical[:5]) == ("GDP1-", "KDP1-")
    grz.confirm_delivery(vng, node_id="GRZS01001", pseudonym=genome)
    actors = {e.actor for e in trust_center_events(config) if e.type in (
        "case_number.exchanged", "case_number.deleted") and e.payload.get("node_id") in (
        "GRZS01001", "KDKS01001")}
    assert actors == {grz.credentials.client_id, kdk.credentials.client_id}
    assert ledgers_verify(config)


def test_exchange_case_number__grz_asking_for_clinical_pseudonym_refused_403(services):
    config = services.config
    grz = node_client(services, "GRZS02001")
    _, vnk = new_case_numbers(config, 2)
    before = trust_center_state(config)
    with services.http() as http:
        answer = http.post(EXCHANGE_PATH, json={"case_number": vnk, "domain": "clinical"},
                           headers=grz.tokens.headers())
    assert answer.status_code == 403, answer.text
    assert "may not exchange clinical case numbers" in answer.json()["error_description"]
    with pytest.raises(PermissionDenied, match="403"):
        grz.exchange_case_number(vnk, node_id="GRZS02001", domain="clinical")
    assert trust_center_state(config) == before
    assert ledgers_verify(config)


def test_exchange_case_number__suspended_node_gets_neither_token_nor_pseudonym(services):
    config = services.config
    grz = node_client(services, "GRZS03001")
    vng, _ = new_case_numbers(config, 3)
    old_token = grz.tokens.get()  # taken while the node was approved
    NodeRegistry(config).suspend("GRZS03001", actor="bfarm-op", reason="audit finding")
    before, platform_before = trust_center_state(config), platform_state(config)
    with services.http() as http:
        answer = http.post(EXCHANGE_PATH, json={"case_number": vng, "domain": "genomic"},
                           headers={"Authorization": f"Bearer {old_token}"})
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token")
    assert "GRZS03001 is suspended" in answer.json()["error_description"]
    grz.tokens.forget()
    with pytest.raises(InvalidCredentials, match="401 invalid_client"):
        grz.exchange_case_number(vng, node_id="GRZS03001", domain="genomic")
    assert trust_center_state(config) == before
    assert platform_state(config) == platform_before
    assert ledgers_verify(config)


def test_exchange_case_number__platform_token_or_no_token_refused_401(services):
    config = services.config
    grz = node_client(services, "GRZS04001")
    vng, _ = new_case_numbers(config, 4)
    with httpx.Client(base_url=services.platform_url, verify=ssl.create_default_context(
            cafile=str(services.platform_ca))) as http:
        platform_token = http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": grz.credentials.client_id,
            "client_secret": grz.credentials.client_secret}).json()["access_token"]
        mixed = http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "scope": "pruefbericht:upload pseudonyms:request",
            "client_id": grz.credentials.client_id,
            "client_secret": grz.credentials.client_secret})
    assert (mixed.status_code, mixed.json()["error"]) == (400, "invalid_scope")
    before = trust_center_state(config)
    with services.http() as http:
        wrong_audience = http.post(EXCHANGE_PATH, json={"case_number": vng, "domain": "genomic"},
                                   headers={"Authorization": f"Bearer {platform_token}"})
        none = http.post(EXCHANGE_PATH, json={"case_number": vng, "domain": "genomic"})
    assert wrong_audience.status_code == 401, wrong_audience.text
    assert "audience" in wrong_audience.json()["error_description"].lower()
    assert none.status_code == 401
    assert trust_center_state(config) == before


# --- linkage maps -------------------------------------------------------------------------------


def test_issue_linkage_map__holds_exactly_the_approved_cohorts_consented_persons(services):
    config = services.config
    approval = get_signed_approval(config, services.application_id)
    everyone, rare = clinical_pseudonyms(config), clinical_pseudonyms(config, disease_type="rare")
    assert len(everyone) > len(rare) > 0  # the world holds non-rare datasets too
    cohort = services.data_service.issue_linkage_map(approval, actor="data_service",
                                                     clinical_pseudonyms=rare)
    presented_all = services.data_service.issue_linkage_map(approval, actor="data_service",
                                                            clinical_pseudonyms=everyone)
    key = load_public_key(Institution(config, "trust_center").keys()
                          .public_key_path("linkage-map").read_bytes())
    verify_linkage_map(presented_all, key)
    rows = {k for _, _, k in presented_all.rows()}
    assert rows == {k for _, _, k in cohort.rows()}
    assert rows <= set(rare)
    assert len(rows) + cohort.n_excluded_no_consent == len(rare)
    assert presented_all.n_outside_cohort == (len(everyone) - len(rare)
                                              - (presented_all.n_excluded_no_consent
                                                 - cohort.n_excluded_no_consent))
    assert presented_all.n_outside_cohort > 0
    issued = [e for e in trust_center_events(config) if e.type == "linkage_map.issued"
              and e.payload["map_id"] == presented_all.map_id]
    assert [(e.actor, e.payload["n_rows"]) for e in issued] == [
        (services.data_service.credentials.client_id, len(rows))]


def test_issue_linkage_map__only_a_data_service_client(services):
    config = services.config
    grz = node_client(services, "GRZS05001")
    approval = get_signed_approval(config, services.application_id)
    before = trust_center_state(config)
    with services.http() as http:
        answer = http.post(LINKAGE_PATH, headers=grz.tokens.headers(), json={
            "approval": approval.model_dump(mode="json"),
            "clinical_pseudonyms": clinical_pseudonyms(config)})
    assert (answer.status_code, answer.json()["error"]) == (403, "insufficient_scope")
    assert trust_center_state(config) == before


def _refused_once(services: Services, approval: SignedDocument, match: str) -> None:
    """The map is refused with 403, and the refusal's audit event is the only change: exactly
    one ``linkage_map.refused`` event of the data service's client is appended (one row of
    ``ledger_events``; the event has no projection), no map is issued (no
    ``linkage_map.issued`` event, ``tc_linkage_maps`` and ``tc_project_persons`` unchanged),
    every other trust-centre table and every platform table keeps its row count, and both
    ledgers verify in full afterwards."""
    config = services.config
    before, n_events = trust_center_state(config), len(trust_center_events(config))
    platform_before = platform_state(config)
    with pytest.raises(PermissionDenied, match=match):
        services.data_service.issue_linkage_map(
            approval, actor="data_service", clinical_pseudonyms=clinical_pseudonyms(config))
    added = trust_center_events(config)[n_events:]
    assert [(e.type, e.actor) for e in added] == [
        ("linkage_map.refused", services.data_service.credentials.client_id)]
    # the ledger's own periodic checkpoint, when the refusal happens to be its 100th event
    checkpoint = {"ledger_checkpoints": 1} if added[0].seq % DEFAULT_CHECKPOINT_EVERY == 0 else {}
    assert state_changes(before, trust_center_state(config)) == {"ledger_events": 1,
                                                                  **checkpoint}
    assert platform_state(config) == platform_before
    assert ledgers_verify(config)


def test_issue_linkage_map__forged_or_not_current_approval_refused(services):
    """An altered approval and one re-signed with the platform's key but never issued are each
    refused 403; the ``linkage_map.refused`` audit event is the only change
    (:func:`_refused_once`)."""
    config = services.config
    approval = get_signed_approval(config, services.application_id)
    widened = {**approval.body, "criteria": {}}
    altered = SignedDocument(kind=APPROVAL_KIND, body=widened, key_id=approval.key_id,
                             signature=approval.signature)
    platform_key = Institution(config, "platform").keys().signing_key(APPROVAL_KEY)
    resigned = sign_document(APPROVAL_KIND, widened, platform_key)  # valid signature, not issued
    _refused_once(services, altered, "not the platform's current approval")
    _refused_once(services, resigned, "not the platform's current approval")


def test_issue_linkage_map__after_revocation_at_platform_refused_without_being_told(services):
    """A revoked approval (and its replay) is refused 403 without the trust centre being told;
    the ``linkage_map.refused`` audit event is the only change (:func:`_refused_once`)."""
    config = services.config
    application_id = _file_clinical_application(config)
    approval = get_signed_approval(config, application_id)
    first = services.data_service.issue_linkage_map(
        approval, actor="data_service", clinical_pseudonyms=clinical_pseudonyms(config))
    assert len(first) > 0
    Workflow(config).revoke("dora", application_id, "breach of § 64e (11b) duties")
    assert not [e for e in trust_center_events(config) if e.type == "approval.revoked"]
    _refused_once(services, approval, f"approval {application_id}: revoked at the platform")
    _refused_once(services, approval, "revoked at the platform")  # the replay


def test_issue_linkage_map__current_approval_presented_again_gets_the_same_map_audited(
        services):
    """Decision: an approval that is still the platform's current one may be presented again
    (the data service re-releases, e.g. after withdrawals); it is not a one-time ticket. What
    keeps it bounded is the platform's word (revoked, closed or expired approvals are refused,
    :func:`test_issue_linkage_map__after_revocation_at_platform_refused_without_being_told`)
    and the cohort filter, not single use. The second presentation of the same request gets
    the same rows (same project pseudonyms, same digest: same key version) under a new map
    id, and is audited as its own ``linkage_map.issued`` event of the data service's client:
    one new ``tc_linkage_maps`` row, no new project person, nothing else."""
    config = services.config
    application_id = _file_clinical_application(config)
    approval = get_signed_approval(config, application_id)
    request = clinical_pseudonyms(config)
    first = services.data_service.issue_linkage_map(approval, actor="data_service",
                                                    clinical_pseudonyms=request)
    assert len(first) > 0
    before, n_events = trust_center_state(config), len(trust_center_events(config))
    again = services.data_service.issue_linkage_map(approval, actor="data_service",
                                                    clinical_pseudonyms=request)
    assert again.map_id != first.map_id
    assert (again.digest, sorted(again.rows())) == (first.digest, sorted(first.rows()))
    added = trust_center_events(config)[n_events:]
    assert [(e.type, e.actor, e.payload["map_id"], e.payload["digest"]) for e in added] == [
        ("linkage_map.issued", services.data_service.credentials.client_id, again.map_id,
         first.digest)]
    assert state_changes(before, trust_center_state(config)) == {
        "ledger_events": 1, "tc_linkage_maps": 1}
    assert ledgers_verify(config)


def test_issue_linkage_map__approval_signed_by_an_attacker_after_swapping_the_trusted_key_refused(
        services):
    """Attack: replace the platform's public approval key that the trust centre trusts
    (``platform/keys/approval.pub.pem``, :func:`platform_approval_key_path`) with an attacker's,
    and present an approval the attacker signed (criteria widened to everyone). The swap does
    defeat the bare signature check (``check_approval`` accepts the forgery with the
    attacker's key), but not the trust centre: the key's fingerprint is anchored in its ledger
    (the services' start anchors it), so loading the swapped file is refused
    (``TrustedKeyMismatch``), and before any key is loaded the trust-centre service asks the
    platform for the approval's current digest; the forgery is not it, and the request is
    refused 403 with the ``linkage_map.refused`` audit event as the only change."""
    config = services.config
    approval = get_signed_approval(config, services.application_id)
    attacker = Ed25519PrivateKey.generate()
    forged = sign_document(APPROVAL_KIND, {**approval.body, "criteria": {}}, attacker)
    trusted = platform_approval_key_path(config)
    genuine = trusted.read_bytes()
    trusted.write_bytes(public_key_pem(attacker.public_key()))
    try:
        grant = check_approval(forged, attacker.public_key(), today=clock.today())
        assert grant.application_id == services.application_id  # a valid signature
        with pytest.raises(TrustedKeyMismatch, match=f"^{trusted}: the platform's approval key"):
            load_platform_approval_key(config)  # the anchored fingerprint catches the swap
        _refused_once(services, forged, "not the platform's current approval")
    finally:
        trusted.write_bytes(genuine)


def test_issue_linkage_map__token_signed_by_an_attacker_after_swapping_the_token_key_refused_401(
        services):
    """Attack: replace the platform's published token key that the services trust
    (``<home>/services/platform.token-key.pub.pem``, :func:`get_published_token_key`) with an
    attacker's, and call with a token the attacker signed carrying a real data-service
    client's claims. The running trust centre reads the changed file again, finds its
    fingerprint not anchored in its ledger, keeps the anchored key (``TrustedKeyFile``), so it
    refuses the token 401 and nothing changes in either store. The next service start would not load
    the swapped file: its fingerprint is not the one anchored in the trust centre's ledger
    (the services' start anchors it; ``load_platform_token_key`` raises
    ``TrustedKeyMismatch``), and ``ledger verify`` names the file
    (``tests/trust_center/test_trusted_keys.py``, ``tests/test_ledger_completeness.py``)."""
    config = services.config
    real = jwt.decode(services.data_service.tokens.get(), options={"verify_signature": False})
    attacker = Ed25519PrivateKey.generate()
    forged = jwt.encode({**real, "jti": "f" * 32}, attacker, algorithm="EdDSA",
                        headers={"typ": "at+jwt"})
    published = get_published_token_key(config)
    genuine = published.read_bytes()
    before, platform_before = trust_center_state(config), platform_state(config)
    published.write_bytes(public_key_pem(attacker.public_key()))
    try:
        claims = decode_access_token(forged, attacker.public_key(),
                                     audience=TRUST_CENTER_AUDIENCE)
        assert claims["client_id"] == services.data_service.credentials.client_id
        with pytest.raises(TrustedKeyMismatch, match=f"^{published}: the platform's access"):
            load_platform_token_key(config, trusted_by=Institution(config, "trust_center"))
        with services.http() as http:
            answer = http.post(LINKAGE_PATH, headers={"Authorization": f"Bearer {forged}"}, json={
                "approval": get_signed_approval(config, services.application_id)
                .model_dump(mode="json"),
                "clinical_pseudonyms": clinical_pseudonyms(config)})
    finally:
        published.write_bytes(genuine)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token"), answer.text
    assert trust_center_state(config) == before
    assert platform_state(config) == platform_before
    assert ledgers_verify(config)


def test_release_application__links_through_the_trust_center_service(services):
    from genomlab.data_service.release import release_application

    config = services.config
    _, kdks = get_node_readers(config)
    n_maps = sum(e.type == "linkage_map.issued" for e in trust_center_events(config))
    result = release_application(config, services.application_id, genome_nodes=[],
                                 clinical_nodes=kdks, linkage_service=services.data_service)
    issued = [e for e in trust_center_events(config) if e.type == "linkage_map.issued"]
    assert len(issued) == n_maps + 1
    assert issued[-1].actor == services.data_service.credentials.client_id
    from genomlab.workspace import open_release

    released = open_release(result.manifest["project_id"], user="tom",  # Crypt4GH: decrypted
                            config=config).read_clinical()
    assert result.manifest["counts"]["n_persons"] == issued[-1].payload["n_rows"] == \
        released.height > 0


def test_exchange_case_number__token_of_a_replaced_client_or_an_earlier_approval_refused(
        services):
    config = services.config
    replaced, suspended = node_client(services, "GRZS06001"), node_client(services, "GRZS06002")
    vng, _ = new_case_numbers(config, 6)
    replaced_token, suspended_token = replaced.tokens.get(), suspended.tokens.get()
    issue_client(config, "GRZS06001", actor="bfarm-op", replace=True)
    registry = NodeRegistry(config)
    registry.suspend("GRZS06002", actor="bfarm-op", reason="audit finding")
    registry.approve("GRZS06002", actor="bfarm-op", reason="fixed")
    before = trust_center_state(config)
    with services.http() as http:
        answers = [http.post(EXCHANGE_PATH, json={"case_number": vng, "domain": "genomic"},
                             headers={"Authorization": f"Bearer {token}"})
                   for token in (replaced_token, suspended_token)]
    assert [(a.status_code, a.json()["error"]) for a in answers] == [
        (401, "invalid_token"), (401, "invalid_token")]
    assert "not an active client" in answers[0].json()["error_description"]
    assert "current approval" in answers[1].json()["error_description"]
    assert trust_center_state(config) == before


def test_exchange_case_number__platform_not_reachable_refused_503_never_assumed(services):
    config = services.config
    grz = node_client(services, "GRZS07001")
    vng, _ = new_case_numbers(config, 7)
    token = grz.tokens.get()
    record = config.home / "services" / "platform.json"  # what a stopped platform leaves
    hidden = record.with_name("platform.json.hidden")
    before = trust_center_state(config)
    record.rename(hidden)
    try:
        with services.http() as http:
            answer = http.post(EXCHANGE_PATH, json={"case_number": vng, "domain": "genomic"},
                               headers={"Authorization": f"Bearer {token}"})
    finally:
        hidden.rename(record)
    assert answer.status_code == 503, answer.text
    assert "platform: not running" in answer.json()["error_description"]
    assert trust_center_state(config) == before
