"""Each KDK as its own service: intake over HTTPS, the read API, a suspended node, a crash.

One home per module: the synthetic world's nodes approved, its TANs and consents registered at
the trust centre, two of the world's records in each of two KDKs' inboxes, the node clients
saved in the nodes' folders (``platform nodes issue-client NODE --save``). Real subprocesses:
the platform, the trust centre and KDK ``KDKK00001``'s service; KDK ``KDKHD0002``'s service is
started (and SIGKILLed once mid-intake) by the crash test. No Hail: a KDK stores Parquet.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, table

from genomlab.cli import main
from genomlab.clients.nodes import (
    ATTRIBUTES_PATH,
    ATTRIBUTES_SCOPE,
    FIELDS_PATH,
    INTAKE_PATH,
    READ_SCOPE,
    NodeOperatorClient,
    NodeServiceReader,
)
from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    ServiceUnavailable,
    load_client_credentials,
)
from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import ClinicalNodeReader
from genomlab.errors import ValidationFailed
from genomlab.institution import Institution
from genomlab.platform.access_tokens import (
    DATA_SERVICE_AUDIENCE,
    NODE_AUDIENCE,
    TOKEN_KEY,
)
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.workflow import Workflow
from genomlab.platform.confirmations import (
    get_confirmation_public_key_pem,
    verify_confirmation_bytes,
)
from genomlab.platform.nodes import NodeRegistry
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.services.conftest import approved_node_client, platform_state
from tests.services.people import mint_person_token

WORLD = REPO / "data_samples" / "world"
KDK = "KDKK00001"
CRASH_KDK = "KDKHD0002"
GRZ = "GRZK00001"
TRUST_CENTER_NODE = "VSTRKI"
DATA_SERVICE_NODE = "DSNODE01"
ENV = {"PYTHONPATH": str(REPO)}


@dataclass(frozen=True)
class Nodes:
    config: GenomlabConfig
    base: Path
    url: str
    ca: Path

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, verify=ssl.create_default_context(cafile=str(self.ca))
        )


def _save_client(config: GenomlabConfig, node_id: str) -> None:
    saved = CliRunner().invoke(
        main,
        ["platform", "nodes", "issue-client", node_id, "--save"],
        env={"GENOMLAB_HOME": str(config.home)},
    )
    assert saved.exit_code == 0, saved.output


def _put_records(config: GenomlabConfig, node_id: str, names: list[str]) -> None:
    inbox = Institution(config, "kdk", node_id).directory / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(WORLD / "kdk" / node_id / "records" / name, inbox / name)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
    )

    base = tmp_path_factory.mktemp("node-services")
    config = config_for(base / "home")
    register_world_nodes(config, WORLD, actor="test")
    request_world_case_numbers(config, WORLD)
    record_world_consents(config, WORLD)
    run_applications_demo(config)  # the platform's staff and researchers
    NodeRegistry(config).ensure_approved(TRUST_CENTER_NODE, name="RKI", actor="bfarm-op")
    for node_id in (TRUST_CENTER_NODE, KDK, CRASH_KDK):
        _save_client(config, node_id)  # <instance>/platform-client.json
    _put_records(config, KDK, ["0dd8602690988c41.json", "32c64917e1ba11bd.json"])
    _put_records(config, CRASH_KDK, ["1d73422f00c52d19.json", "2e6fed7aa108d66b.json"])
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)  # publishes oauth.pub.pem
    # the trust centre first: under faketime its clock then never runs behind the platform's
    with (
        running_service(config, "trust_center", log=base / "tc.log", env=ENV),
        running_service(config, "platform", log=base / "platform.log", env=ENV),
        running_service(config, "kdk", KDK, log=base / "kdk.log", env=ENV) as kdk,
    ):
        yield Nodes(config, base, kdk.url, kdk.ca)


def node_state(config: GenomlabConfig, node_id: str) -> dict[str, int]:
    """Row count of every table of a KDK's store (its ledger included)."""
    engine = Institution(config, "kdk", node_id).engine()
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in sorted(inspect(engine).get_table_names())
        }


def events_of(config: GenomlabConfig, kind: str, types: tuple[str, ...]) -> list:
    ledger = Institution(config, kind).ledger()  # type: ignore[arg-type]
    return [e for e in ledger.events() if e.type in types]


def ledgers_verify(config: GenomlabConfig, *nodes: str) -> bool:
    institutions = [Institution(config, "trust_center"), Institution(config, "platform")]
    institutions += [Institution(config, "kdk", n) for n in nodes]
    return all(i.ledger().verify(full=True).ok for i in institutions)


def client_of(config: GenomlabConfig, node_id: str) -> ClientCredentials:
    return load_client_credentials(
        Institution(config, "kdk", node_id).directory / "platform-client.json"
    )


def filed_confirmations(config: GenomlabConfig, node_id: str) -> list[dict]:
    """The Meldebestätigungen filed for the LEs that name ``node_id`` (verified)."""
    pem = get_confirmation_public_key_pem(config)
    bodies = [
        verify_confirmation_bytes(path.read_bytes(), pem)
        for path in sorted((config.home / "hospitals").glob("*/meldebestaetigungen/*.json"))
    ]
    return [b for b in bodies if b.get("data_node_id", b.get("dataNodeId")) == node_id]


# --- intake through the trust-centre and platform services -------------------------------------


def test_run_intake__kdk_service_exchanges_and_reports_over_https(nodes):
    config = nodes.config
    client = client_of(config, KDK)
    summary = NodeOperatorClient(
        config, "kdk", KDK, Institution(config, "kdk", KDK).directory
    ).run_intake()

    assert summary["inputs"] == 2, summary
    assert summary["archived"] == 2, summary
    assert {r["state"] for r in summary["records"].values()} == {"finished"}, summary
    exchanged = [
        e
        for e in events_of(config, "trust_center", ("case_number.exchanged",))
        if e.payload["node_id"] == KDK
    ]
    assert len(exchanged) == 2
    assert {e.actor for e in exchanged} == {client.client_id}  # the node's client, verified
    confirmed = [
        e
        for e in events_of(config, "platform", ("pruefbericht.confirmed",))
        if e.stream == f"node:{KDK}"
    ]
    assert len(confirmed) == 2
    assert {e.actor for e in confirmed} == {client.client_id}
    assert len(filed_confirmations(config, KDK)) == 2
    folder = Institution(config, "kdk", KDK).directory
    assert not list((folder / "inbox").glob("*.json"))
    assert len(list((folder / "archive").glob("*.json"))) == 2
    assert ledgers_verify(config, KDK)

    before = (node_state(config, KDK), platform_state(config))
    again = NodeOperatorClient(config, "kdk", KDK, folder).run_intake()
    assert again["inputs"] == 0
    assert again["archived"] == 0
    assert (node_state(config, KDK), platform_state(config)) == before


def test_kdk_run_inbox__cli_asks_the_running_service(nodes):
    import json

    config = nodes.config
    _put_records(config, KDK, ["a1065448a238a338.json"])
    result = CliRunner().invoke(
        main, ["kdk", "run-inbox", "--node", KDK], env={"GENOMLAB_HOME": str(config.home)}
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [r["state"] for r in summary["records"].values()] == ["finished"], summary
    record_id = next(iter(summary["records"].values()))["record_id"]
    reported = [
        e
        for e in Institution(config, "kdk", KDK).ledger().events()
        if e.type == "record.reported" and e.payload.get("record_id") == record_id
    ]
    assert len(reported) == 1
    # the service, not this process, exchanged the TAN: the trust centre saw the node's client
    latest = events_of(config, "trust_center", ("case_number.exchanged",))[-1]
    assert latest.payload["node_id"] == KDK
    assert latest.actor == client_of(config, KDK).client_id


def test_run_intake__refused_without_the_operator_credential(nodes):
    config = nodes.config
    client = client_of(config, KDK)
    _put_records(config, KDK, ["5a6a7913ea466b9d.json"])
    before = (node_state(config, KDK), platform_state(config))
    machine_token = BearerTokens(config, client, "pruefbericht:upload").get()
    try:
        with nodes.http() as http:
            for headers in (
                {},
                {"Authorization": "Bearer " + "x" * 43},
                {"Authorization": f"Bearer {machine_token}"},
            ):
                answer = http.post(INTAKE_PATH, headers=headers)
                assert answer.status_code == 401, (headers, answer.text)
        assert (node_state(config, KDK), platform_state(config)) == before
    finally:
        (Institution(config, "kdk", KDK).directory / "inbox" / "5a6a7913ea466b9d.json").unlink()


# --- the read API -------------------------------------------------------------------------------


def test_get_dataset_attributes__data_service_token_reads_attributes_and_fields(nodes):
    config = nodes.config
    issued = approved_node_client(config, DATA_SERVICE_NODE)
    credentials = ClientCredentials(issued.client_id, issued.client_secret, DATA_SERVICE_NODE)
    tokens = BearerTokens(config, credentials, f"{ATTRIBUTES_SCOPE} {READ_SCOPE}")
    over_https = NodeServiceReader(config, "kdk", KDK, tokens)
    in_process = ClinicalNodeReader(config, KDK)

    attributes = over_https.get_dataset_attributes()
    assert attributes.height > 0
    assert attributes.sort("pseudonym").equals(
        in_process.get_dataset_attributes().sort("pseudonym")
    )
    pseudonyms = attributes["pseudonym"].to_list()
    fields = over_https.read_fields(pseudonyms, ["sex", "hpo_terms"])
    assert fields.columns == ["pseudonym", "sex", "hpo_terms"]
    expected = in_process.read_fields(pseudonyms, ["sex", "hpo_terms"])
    assert fields.sort("pseudonym").to_dicts() == expected.sort("pseudonym").to_dicts()


def test_get_dataset_attributes__other_callers_refused(nodes):
    config = nodes.config
    before = node_state(config, KDK)
    grz = approved_node_client(config, GRZ)
    grz_credentials = ClientCredentials(grz.client_id, grz.client_secret, GRZ)
    with pytest.raises(ValidationFailed, match="invalid_scope"):
        BearerTokens(config, grz_credentials, ATTRIBUTES_SCOPE).get()  # not a GRZ's scope
    trust_center = load_client_credentials(
        Institution(config, "trust_center").directory / "platform-client.json"
    )
    refusals = {
        "GRZ platform token": (
            BearerTokens(config, grz_credentials, "pruefbericht:upload").get(),
            ATTRIBUTES_PATH,
            401,
        ),
        "GRZ trust-centre token": (
            BearerTokens(config, grz_credentials, "pseudonyms:request").get(),
            ATTRIBUTES_PATH,
            401,
        ),
        "person token": (
            mint_person_token(config, "alice", DATA_SERVICE_AUDIENCE),
            ATTRIBUTES_PATH,
            401,
        ),
        "person token naming the node": (
            mint_person_token(config, "alice", NODE_AUDIENCE),
            ATTRIBUTES_PATH,
            401,
        ),
        "trust centre at the fields": (
            BearerTokens(config, trust_center, ATTRIBUTES_SCOPE).get(),
            FIELDS_PATH,
            403,
        ),
    }
    with nodes.http() as http:
        assert http.get(ATTRIBUTES_PATH).status_code == 401
        for name, (token, path, status) in refusals.items():
            headers = {"Authorization": f"Bearer {token}"}
            answer = (
                http.get(path, headers=headers)
                if path == ATTRIBUTES_PATH
                else http.post(path, headers=headers, json={"pseudonyms": [], "fields": ["sex"]})
            )
            assert answer.status_code == status, (name, answer.text)
            assert "datasets" not in answer.json(), name  # an error, no rows
    assert node_state(config, KDK) == before


def test_build_feasibility_index__data_service_operator_has_the_service_ask_the_nodes(nodes):
    """``genomlab data-service index`` with the data service running: the service rebuilds its
    index from the KDK service (its own client), asked with its operator's credential; a wrong
    secret or a node's token is refused and builds nothing."""
    from genomlab.clients.data_service import INDEX_PATH, SERVICE, DataServiceOperatorClient
    from genomlab.clients.nodes import call_as_operator
    from genomlab.clients.oauth import InvalidCredentials
    from genomlab.clients.trust_center import PSEUDONYM_SCOPE
    from genomlab.data_service.index import load_feasibility_index
    from tests.services.people import save_service_client

    config = nodes.config
    kdk_dir = Institution(config, "kdk", KDK).directory
    NodeOperatorClient(config, "kdk", KDK, kdk_dir).run_intake()  # records in, whatever ran
    save_service_client(config, "data_service", "DSINDEX1")
    folder = Institution(config, "data_service").directory
    with running_service(config, "data_service", log=nodes.base / "ds-index.log", env=ENV):
        kdk_token = BearerTokens(config, client_of(config, KDK), PSEUDONYM_SCOPE).get()
        for secret in ("not-the-operator-secret", kdk_token):
            with pytest.raises(InvalidCredentials, match="operator credential"):
                call_as_operator(config, SERVICE, secret, "POST", INDEX_PATH)
        assert not [e for e in Institution(config, "data_service").ledger().events()
                    if e.type == "feasibility.index_built"]
        built = DataServiceOperatorClient(config, folder).build_feasibility_index()
        shown = CliRunner().invoke(main, ["data-service", "index"],
                                   env={"GENOMLAB_HOME": str(config.home)})
    assert shown.exit_code == 0, shown.output
    assert "(by the data service)" in shown.output
    attributes = ClinicalNodeReader(config, KDK).get_dataset_attributes()
    assert built["nodes"] == [KDK]
    assert built["n_clinical_datasets"] == attributes.height > 0
    index = load_feasibility_index(config)
    assert index.digest == built["digest"]
    assert index.clinical.height == attributes.height
    events = [e for e in Institution(config, "data_service").ledger().events()
              if e.type == "feasibility.index_built"]
    assert [e.payload["nodes"] for e in events] == [[KDK], [KDK]]  # the service's, then the CLI's


def test_make_cohort_filter__trust_centre_asks_the_node_services(nodes, monkeypatch):
    import numpy as np

    from genomlab.data_service import adapters
    from genomlab.messages import ApprovalGrant, CohortCriteria
    from genomlab.services.trust_center_api import make_cohort_filter

    config = nodes.config

    def no_folder_reads(*args, **kwargs):
        raise AssertionError("the trust centre read a node's folder")

    monkeypatch.setattr(adapters, "get_node_readers", no_folder_reads)
    attributes = ClinicalNodeReader(config, KDK).get_dataset_attributes()
    disease = attributes["disease_type"][0]
    grant = ApprovalGrant(
        application_id="APP-1",
        project_id="GDE-2026-0001",
        title="t",
        purposes=("research",),
        duo_codes=("HMB",),
        level="individual",
        data_categories=("clinical",),
        clinical_fields=("sex",),
        criteria=CohortCriteria(disease_types=(disease,)),
        team=("alice",),
        valid_from="2026-01-01",
        valid_until="2027-01-01",
        issued_at="2026-01-01T00:00:00+00:00",
    )
    clinical = np.array([*attributes["pseudonym"].to_list(), "KDP1-unknown"])
    mask = make_cohort_filter(config)(grant, np.array([""] * len(clinical)), clinical)
    expected = [d == disease for d in attributes["disease_type"].to_list()] + [False]
    assert mask.tolist() == expected


def test_issue_linkage_map__trust_centre_service_selects_the_cohort_at_the_node_service(nodes):
    from datetime import timedelta

    from genomlab import clock
    from genomlab.clients.trust_center import LINKAGE_SCOPE, TrustCenterClient
    from genomlab.messages import CohortCriteria
    from genomlab.platform.applications.entitlements import get_signed_approval
    from genomlab.platform.applications.models import TERMS_OF_USE_VERSION, ApplicationForm

    config = nodes.config
    attributes = ClinicalNodeReader(config, KDK).get_dataset_attributes()
    prefix = attributes["icd10gm"][0][0][:3]
    in_cohort = {
        p
        for p, codes in attributes.select("pseudonym", "icd10gm").rows()
        if any(c.startswith(prefix) for c in codes)
    }
    wf = Workflow(config)
    form = ApplicationForm(
        title="Diagnoses by sex",
        lay_summary="Who has which diagnosis?",
        scientific_abstract="Counts of sexes among persons with one ICD-10-GM group.",
        purposes=("research",),
        duo_permission="HMB",
        duo_modifiers=("PUB",),
        data_categories=("clinical",),
        clinical_fields=("sex",),
        criteria=CohortCriteria(icd10gm_prefixes=(prefix,)),
        duration_months=12,
        level="individual",
        individual_justification=(
            "Sex and diagnosis within one person need individual "
            "records; aggregates cannot show it."
        ),
        ethics_vote_reference="EK Tübingen 003/2026BO1",
        accepted_terms=TERMS_OF_USE_VERSION,
        team=("tom",),
    )
    application_id = wf.create_draft("alice", form)
    wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.request_committee_review("hanna", application_id, note="Standard review.")
    wf.record_vote("kurt", application_id, "approve", "Justified.")
    wf.approve(
        "dora",
        application_id,
        valid_from=clock.today() - timedelta(days=1),
        note="Committee in favour.",
    )
    issued = approved_node_client(config, "DSNODE02")
    data_service = TrustCenterClient(
        config,
        ClientCredentials(issued.client_id, issued.client_secret, "DSNODE02"),
        scope=LINKAGE_SCOPE,
    )
    presented = attributes["pseudonym"].to_list()
    linkage = data_service.issue_linkage_map(
        get_signed_approval(config, application_id),
        actor="data_service",
        clinical_pseudonyms=presented,
    )
    rows = {k for _, _, k in linkage.rows()}
    assert rows, "the node service's attributes put nobody in the cohort"
    assert rows <= in_cohort  # selected on the node's attributes, asked over HTTPS
    assert len(presented) > len(in_cohort)  # someone presented is outside the criteria
    assert len(rows) + linkage.n_excluded_no_consent + linkage.n_outside_cohort == len(presented)
    assert linkage.n_outside_cohort + linkage.n_excluded_no_consent >= len(presented) - len(
        in_cohort
    )


# --- a suspended node ---------------------------------------------------------------------------


def test_run_intake__suspended_kdk_refused_stores_nothing(nodes):
    from genomlab.clients.platform import PruefberichtClient
    from genomlab.clients.trust_center import PSEUDONYM_SCOPE, TrustCenterClient
    from genomlab.errors import PermissionDenied

    config = nodes.config
    client = client_of(config, KDK)
    _put_records(config, KDK, ["606cb4757789a9d2.json"])
    pseudonyms = TrustCenterClient(config, client, scope=PSEUDONYM_SCOPE)
    uploads = PruefberichtClient(config, client)
    pseudonyms.tokens.get(), uploads.tokens.get()  # tokens from before the suspension
    registry = NodeRegistry(config)
    registry.suspend(KDK, actor="bfarm-op", reason="audit")
    try:
        states = (node_state(config, KDK), platform_state(config))
        tc_events = len(list(Institution(config, "trust_center").ledger().events()))
        operator = NodeOperatorClient(config, "kdk", KDK, Institution(config, "kdk", KDK).directory)
        with pytest.raises(PermissionDenied, match=f"{KDK} is suspended"):
            operator.run_intake()
        # the node's own client is refused at the trust centre and at the platform
        with pytest.raises(PermissionDenied, match="suspended"):
            pseudonyms.exchange_case_number("A" * 64, node_id=KDK, domain="clinical")
        with pytest.raises(PermissionDenied, match="suspended"):
            uploads.receive_pruefbericht({"SubmittedCase": {}})
        assert (node_state(config, KDK), platform_state(config)) == states
        assert len(list(Institution(config, "trust_center").ledger().events())) == tc_events
        inbox = Institution(config, "kdk", KDK).directory / "inbox"
        assert (inbox / "606cb4757789a9d2.json").exists()
    finally:
        registry.approve(KDK, actor="bfarm-op", reason="audit passed")
        (Institution(config, "kdk", KDK).directory / "inbox" / "606cb4757789a9d2.json").unlink()


# --- SIGKILL mid-intake -------------------------------------------------------------------------


@pytest.mark.slow
def test_run_intake__kdk_service_killed_mid_intake_rerun_loses_and_repeats_nothing(nodes):
    config, base = nodes.config, nodes.base
    folder = Institution(config, "kdk", CRASH_KDK).directory
    point = "node.confirmation_received"  # the platform issued it, the node has not filed it
    with running_service(
        config, "kdk", CRASH_KDK, log=base / "crash.log", env={**ENV, "GL_CRASHPOINT": point}
    ) as doomed:
        operator = NodeOperatorClient(config, "kdk", CRASH_KDK, folder)
        with pytest.raises(ServiceUnavailable, match="Server disconnected"):
            operator.run_intake()
        assert doomed.process.wait(timeout=30) == -9, "the service was not killed at " + point
    confirmed_before = [
        e.payload["confirmation_id"]
        for e in events_of(config, "platform", ("pruefbericht.confirmed",))
        if e.stream == f"node:{CRASH_KDK}"
    ]
    assert len(confirmed_before) == 1  # issued once, never answered to the node
    assert filed_confirmations(config, CRASH_KDK) == []

    with running_service(config, "kdk", CRASH_KDK, log=base / "restarted.log", env=ENV):
        summary = NodeOperatorClient(config, "kdk", CRASH_KDK, folder).run_intake()
    assert {r["state"] for r in summary["records"].values()} == {"finished"}, summary
    assert summary["archived"] == 2
    exchanged = [
        e
        for e in events_of(config, "trust_center", ("case_number.exchanged",))
        if e.payload["node_id"] == CRASH_KDK
    ]
    confirmed = [
        e.payload["confirmation_id"]
        for e in events_of(config, "platform", ("pruefbericht.confirmed",))
        if e.stream == f"node:{CRASH_KDK}"
    ]
    assert len(exchanged) == 2, exchanged  # once per record: nothing exchanged twice
    assert len(confirmed) == 2, confirmed  # once per TAN: nothing confirmed twice
    assert confirmed_before[0] in confirmed  # the retried upload got the same confirmation
    filed = filed_confirmations(config, CRASH_KDK)
    assert sorted(b["confirmation_id"] for b in filed) == sorted(confirmed)
    assert ledgers_verify(config, CRASH_KDK)
    stored = ClinicalNodeReader(config, CRASH_KDK).get_dataset_attributes()["pseudonym"]
    assert stored.is_unique().all()
