"""A GRZ as its own service: intake of its inbox through the trust-centre and platform services.

One home per module (the world's nodes approved, its TANs and consents registered), real
``genomlab serve trust-center``, ``platform`` and ``grz --node GRZ…`` subprocesses. A submission
that fails basic QC needs no Hail (nothing to store); the one that stores genotypes starts Hail
in the GRZ's service and is marked ``hail``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from genomlab.clients.nodes import ATTRIBUTES_SCOPE, NodeOperatorClient, NodeServiceReader
from genomlab.clients.oauth import BearerTokens, ClientCredentials
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


@dataclass(frozen=True)
class Grz:
    config: GenomlabConfig
    folder: Path
    client: ClientCredentials

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
        running_service(config, "grz", GRZ, log=base / "grz.log", env=ENV),
    ):
        yield Grz(config, folder, client)


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
    from genomlab.clients.nodes import INTAKE_RECORDS_PATH, get_node_service_name, post_as_operator
    from genomlab.clients.oauth import InvalidCredentials

    operator = NodeOperatorClient(grz.config, "grz", GRZ, grz.folder)
    assert operator.get_intake_records() == {"chain": None, "records": {}}
    token = BearerTokens(grz.config, grz.client, "pseudonyms:request").get()
    for secret in ("not-the-operator-secret", token):  # a guess, the GRZ's own machine token
        with pytest.raises(InvalidCredentials, match="operator credential"):
            post_as_operator(grz.config, get_node_service_name("grz", GRZ), secret,
                             INTAKE_RECORDS_PATH, method="GET")


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
