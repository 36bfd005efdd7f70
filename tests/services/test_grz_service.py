"""A GRZ as its own service: intake of its inbox through the trust-centre and platform services,
its genotypes and site counts to the data service.

One home per module (the world's nodes approved, its TANs and consents registered), real
``genomlab serve trust-center``, ``platform`` and ``grz --node GRZ…`` subprocesses. A submission
that fails basic QC needs no Hail (nothing to store); the ones that store genotypes start Hail
in the GRZ's service (once for the module) and are marked ``hail``, as is the genotype export
(read in this process with the session's Hail). The refusals at the genotypes need no Hail.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, inspect, select, table

from genomlab.clients.nodes import (
    ATTRIBUTES_SCOPE,
    GENOTYPES_PATH,
    READ_SCOPE,
    SITE_COUNTS_PATH,
    NodeOperatorClient,
    NodeServiceReader,
)
from genomlab.clients.oauth import BearerTokens, ClientCredentials, load_client_credentials
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.confirmations import (
    get_confirmation_public_key_pem,
    verify_confirmation_bytes,
)
from genomlab.services.process import running_service
from tests.conftest import REPO, config_for
from tests.services.conftest import approved_node_client
from tests.services.homes import prepare_grz_home

WORLD = REPO / "data_samples" / "world"
ENV = {"PYTHONPATH": str(REPO)}
TRUTH = json.loads((WORLD / "truth.json").read_text())
GRZ_OF = {s["submission_id"]: s["grz"] for s in TRUTH["submissions"]}
BAD = next(b for b in TRUTH["bad_submissions"] if b["reason"] == "below_threshold_coverage")
GRZ = GRZ_OF[BAD["derived_from"]]
GOOD = next(
    s
    for s in TRUTH["submissions"]
    if s["grz"] == GRZ and s["type"] == "initial" and len(s["samples"]) == 1
)
RESEARCH_CONSENT = {c["sample"]: c["research_consent"] for c in TRUTH["consents"]}
SINGLES = [
    s
    for s in TRUTH["submissions"]
    if s["grz"] == GRZ
    and s["type"] == "initial"
    and len(s["samples"]) == 1
    and s is not GOOD
    and s["submission_id"] not in {b["derived_from"] for b in TRUTH["bad_submissions"]}
]
EXPORTED = [s for s in SINGLES if RESEARCH_CONSENT[s["samples"][0]] == "permit"][:2]
"""Two research-consented persons of the GRZ (the data service asks for the first only)."""
NOT_CONSENTED = next(s for s in SINGLES if RESEARCH_CONSENT[s["samples"][0]] != "permit")
"""A person in the GRZ's non-consented store (asked for, never sent)."""
DATA_SERVICE_NODE = "DSGENO01"
KDK = "KDKTUE005"


@dataclass(frozen=True)
class Grz:
    config: GenomlabConfig
    folder: Path
    client: ClientCredentials
    url: str
    ca: Path

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, verify=ssl.create_default_context(cafile=str(self.ca))
        )

    def run_intake(self) -> dict:
        return NodeOperatorClient(self.config, "grz", GRZ, self.folder).run_intake()

    def put(self, path: str) -> str:
        source = WORLD / path
        shutil.copytree(source, self.folder / "inbox" / source.name)
        return source.name


@pytest.fixture(scope="module")
def grz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grz]:
    base = tmp_path_factory.mktemp("grz-service")
    config = config_for(base / "home")
    client = prepare_grz_home(config, GRZ, WORLD)
    folder = Institution(config, "grz", GRZ).directory
    with (
        running_service(config, "trust_center", log=base / "tc.log", env=ENV),
        running_service(config, "platform", log=base / "platform.log", env=ENV),
        running_service(config, "grz", GRZ, log=base / "grz.log", env=ENV) as service,
    ):
        yield Grz(config, folder, client, service.url, service.ca)


def _platform_events(config: GenomlabConfig) -> list:
    return [
        e
        for e in Institution(config, "platform").ledger().events(type="pruefbericht.confirmed")
        if e.stream == f"node:{GRZ}"
    ]


def _filed(config: GenomlabConfig, confirmation_id: str) -> dict:
    (path,) = (config.home / "hospitals").glob(f"*/meldebestaetigungen/{confirmation_id}.json")
    return verify_confirmation_bytes(path.read_bytes(), get_confirmation_public_key_pem(config))


def test_get_intake_records__none_before_grzctl_is_set_up_and_only_for_the_operator(grz):
    from genomlab.clients.nodes import INTAKE_RECORDS_PATH, call_as_operator, get_node_service_name
    from genomlab.clients.oauth import InvalidCredentials

    operator = NodeOperatorClient(grz.config, "grz", GRZ, grz.folder)
    assert operator.get_intake_records() == {"chain": None, "records": {}}
    token = BearerTokens(grz.config, grz.client, "pseudonyms:request").get()
    for secret in ("not-the-operator-secret", token):  # a guess, the GRZ's own machine token
        with pytest.raises(InvalidCredentials, match="operator credential"):
            call_as_operator(grz.config, get_node_service_name("grz", GRZ), secret, "GET",
                             INTAKE_RECORDS_PATH)


def test_run_intake__grz_service_reports_a_failed_submission_over_https(grz):
    inbox_id = grz.put(BAD["path"])
    summary = grz.run_intake()

    assert summary["states"] == {inbox_id: "error"}, summary
    assert "meanDepthOfCoverage" in summary["errors"][inbox_id]
    (confirmed,) = _platform_events(grz.config)
    assert confirmed.actor == grz.client.client_id  # the GRZ's client, verified by the platform
    body = _filed(grz.config, confirmed.payload["confirmation_id"])
    assert body["complete"] is False
    assert summary["archived"] == 0  # not delivered: the TAN stays with the LE's input
    assert (grz.folder / "inbox" / inbox_id).is_dir()
    assert Institution(grz.config, "grz", GRZ).ledger().verify(full=True).ok


@pytest.mark.hail
@pytest.mark.slow
def test_run_intake__grz_service_exchanges_and_stores_one_submission(grz):
    before = len(_platform_events(grz.config))
    inbox_id = grz.put(GOOD["path"])
    summary = grz.run_intake()

    assert summary["states"][inbox_id] in ("qc_selected", "finished"), summary
    assert summary["archived"] == 1
    exchanged = [
        e
        for e in Institution(grz.config, "trust_center")
        .ledger()
        .events(type="case_number.exchanged")
        if e.payload["node_id"] == GRZ
    ]
    assert len(exchanged) == 1
    assert exchanged[0].actor == grz.client.client_id
    confirmed = _platform_events(grz.config)[before:]
    assert [e.actor for e in confirmed] == [grz.client.client_id]
    assert _filed(grz.config, confirmed[0].payload["confirmation_id"])["complete"] is True
    issued = approved_node_client(grz.config, "DSGRZ01")
    tokens = BearerTokens(
        grz.config,
        ClientCredentials(issued.client_id, issued.client_secret, "DSGRZ01"),
        ATTRIBUTES_SCOPE,
    )
    attributes = NodeServiceReader(grz.config, "grz", GRZ, tokens).get_dataset_attributes()
    assert attributes.height == 1
    assert attributes["pseudonym"][0].startswith("GDP1-")
    for ledger in ("trust_center", "platform"):
        assert Institution(grz.config, ledger).ledger().verify(full=True).ok


# --- genotypes and site counts to the data service ----------------------------------------------


@pytest.fixture(scope="module")
def data_service(grz: Grz) -> BearerTokens:
    """The data service's tokens for the node services (its own client)."""
    issued = approved_node_client(grz.config, DATA_SERVICE_NODE)
    credentials = ClientCredentials(issued.client_id, issued.client_secret, DATA_SERVICE_NODE)
    return BearerTokens(grz.config, credentials, f"{ATTRIBUTES_SCOPE} {READ_SCOPE}")


@pytest.fixture(scope="module")
def kdk_tokens(grz: Grz) -> Any:
    """Node-audience tokens of a KDK's own client with any scope, signed with the platform's
    key: as if the platform had granted a KDK what only the data service may have (its
    clients never get it: ``invalid_scope``), so only the GRZ's own caller check stands."""
    from genomlab.platform.access_tokens import AccessTokenAuthority
    from genomlab.platform.oauth_clients import require_usable_client
    from genomlab.platform.store import read_platform

    issued = approved_node_client(grz.config, KDK)
    with read_platform(grz.config) as conn:
        identity = require_usable_client(conn, issued.client_id)

    def token(scope: str) -> str:
        widened = dataclasses.replace(identity, scope=scope)
        return str(AccessTokenAuthority(grz.config).issue(widened, scope)["access_token"])

    return token


def grz_state(config: GenomlabConfig) -> dict[str, Any]:
    """Row count of every table of the GRZ's store (its ledger included), and what its and the
    data service's scratch folders hold."""
    engine = Institution(config, "grz", GRZ).engine()
    with engine.connect() as conn:
        rows = {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in sorted(inspect(engine).get_table_names())
        }
    folders = [Institution(config, "grz", GRZ).directory, Institution(config, "data_service")
               .directory]
    return {"rows": rows, "tmp": sorted(str(p) for f in folders for p in (f / "tmp").glob("*"))}


def test_export_cohort_genotypes__callers_other_than_the_data_service_refused(
    grz, data_service, kdk_tokens
):
    config = grz.config
    before = grz_state(config)
    trust_center = load_client_credentials(
        Institution(config, "trust_center").directory / "platform-client.json"
    )
    refusals = {
        "no token": (None, {"pseudonyms": []}, 401),
        "trust centre (datasets:attributes only)": (
            BearerTokens(config, trust_center, ATTRIBUTES_SCOPE).get(),
            {"pseudonyms": []},
            403,
        ),
        "KDK with datasets:read": (kdk_tokens(READ_SCOPE), {"pseudonyms": []}, 403),
        "data service, pseudonyms not a list": (
            data_service.get(),
            {"pseudonyms": "GDP1-x"},
            400,
        ),
    }
    with grz.http() as http:
        for name, (token, body, status) in refusals.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            answer = http.post(GENOTYPES_PATH, headers=headers, json=body)
            assert answer.status_code == status, (name, answer.text)
            assert answer.headers["content-type"] == "application/json", name  # no tar
            if status == 400:
                assert "field pseudonyms" in answer.json()["error_description"]
        kdk = kdk_tokens(ATTRIBUTES_SCOPE)
        answer = http.get(SITE_COUNTS_PATH, headers={"Authorization": f"Bearer {kdk}"})
        assert answer.status_code == 403, answer.text
        assert http.get(SITE_COUNTS_PATH).status_code == 401
    assert grz_state(config) == before


@pytest.fixture(scope="module")
def stored(grz: Grz) -> dict[str, dict[str, Any]]:
    """Three more single-sample submissions taken in by the GRZ's service (its Hail started
    there): each sample's donor row (``genome_pseudonym``, ``store``)."""
    from genomlab.genome_center.intake import GenomeCenter

    names = {grz.put(s["path"]): s["samples"][0] for s in [*EXPORTED, NOT_CONSENTED]}
    summary = grz.run_intake()
    assert {summary["states"][name] for name in names} <= {"qc_selected", "finished"}, summary
    donors = GenomeCenter(grz.config, GRZ).get_donors()
    return {names[d["inbox_id"]]: d for d in donors if d["inbox_id"] in names}


@pytest.mark.hail
@pytest.mark.slow
def test_export_cohort_genotypes__data_service_gets_only_the_asked_consented_genotypes(
    grz, data_service, stored, hl
):
    from genomlab.data_service.adapters import GenomeCenterReader

    config = grz.config
    first, second = (stored[s["samples"][0]] for s in EXPORTED)
    outside = stored[NOT_CONSENTED["samples"][0]]
    assert [first["store"], second["store"], outside["store"]] == [
        "consented", "consented", "nonconsented"]
    wanted = first["genome_pseudonym"]
    asked = [wanted, outside["genome_pseudonym"], "GDP1-NOSUCHDATASET"]
    in_process = GenomeCenterReader(config, GRZ, hl)

    with NodeServiceReader(config, "grz", GRZ, data_service) as reader:
        mt = reader.export_cohort_genotypes(hl, asked)
        (download,) = reader.downloads
        assert download.parent == Institution(config, "data_service").directory / "tmp"
        assert download.stat().st_mode & 0o777 == 0o700
        assert mt.s.collect() == [wanted]  # the non-consented and the unknown left out
        # the same rows, columns and entries as the GRZ's own export in-process
        assert mt._same(in_process.export_cohort_genotypes(hl, asked))
        assert not list((grz.folder / "tmp").glob("genotypes-*"))  # the GRZ's copy is gone

        sites = reader.get_site_counts()
        assert sites.height > 0
        assert sites.sort("variant").equals(in_process.get_site_counts().sort("variant"))
    assert not download.exists()  # closed: the download is removed
