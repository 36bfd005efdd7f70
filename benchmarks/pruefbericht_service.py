"""Prüfbericht uploads and feasibility queries through the services vs in-process (issue 15).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/pruefbericht_service.py [--uploads 300]
[--queries 300] [--granularity boolean|count] [--person-status-ttl SECONDS]``

One fresh home per path, each with one approved GRZ and its OAuth client (only one writer per
store, as in production). Then, side by side and taking turns:
- in-process (CLI): ``receive_pruefbericht`` as the CLI calls it (opens the ledger each time);
- in-process (held): the same function with the platform ledger held open, as the service
  holds it;
- service (client): what a node service uploads with,
  :class:`genomlab.clients.platform.PruefberichtClient` (its kept HTTPS connection, one bearer
  token; it reads the platform's service record at each upload and returns the validated
  Meldebestätigung, as the in-process function does), to a ``genomlab serve platform``
  subprocess, which checks the token's signature, then the client and node status in the
  upload's own write transaction, and calls the same function with its held ledger;
- service (httpx): the same ``POST /api/pruefbericht/upload`` as bare httpx calls on one
  keep-alive connection (what the HTTP exchange itself costs, without the client's work).
Every upload carries a new TAN, so each one writes a ``pruefbericht.confirmed`` event and signs a
Meldebestätigung. Printed: uploads per second, p50/p95 latency, the ratios and the p50 service
overhead: service (client) p50 minus in-process (held) p50, i.e. what HTTPS, the client's work,
the token check and the client/node status check add to the same work (goal < 5 ms; the same
for the bare httpx calls beside it); and, for scale, the p50 of an empty HTTPS round trip
(``GET /healthz``) on the bare connection.

Feasibility, in the same run: a feasibility index of 2,000 synthetic clinical datasets at three
KDKs; ``run_feasibility_query`` in-process as the CLI calls it vs ``POST /api/feasibility`` to a
``genomlab serve data-service`` subprocess with a person's token (the service verifies it and
asks the platform service for the person's standing, reusing the platform's "yes" for the same
token for ``services.person_status_ttl_seconds``: its default 2 s, or
``--person-status-ttl``, 0 = ask at every query; then it calls the same function). Queries
cycle through sex/disease-type/age-band/HPO filters; both requesters have a budget large
enough for the run (``GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET``). Default granularity
``boolean`` (no differencing audit, whose cost grows with each requester's history alike on
both paths); ``--granularity count`` includes it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import polars as pl

from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    get_credentials_path,
    load_client_credentials,
    save_client_credentials,
)
from genomlab.clients.platform import PruefberichtClient
from genomlab.config import GenomlabConfig, load_config
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index
from genomlab.data_service.nodes import CLINICAL_ATTRIBUTES
from genomlab.institution import Institution
from genomlab.platform.applications.workflow import Workflow
from genomlab.platform.confirmations import receive_pruefbericht
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import IssuedClient, issue_client
from genomlab.platform.person_credentials import (
    PERSON_SCOPE,
    PersonCredentials,
    issue_person_credential,
)
from genomlab.platform.store import open_platform_ledger
from genomlab.services.person_check import KeptPlatformClient
from genomlab.services.process import running_service

NODE = "GRZBEN001"
DATA_SERVICE_NODE = "DSBENCH"
KDKS = ("KDKBEN001", "KDKBEN002", "KDKBEN003")
BUDGET = "1000000"
FILTERS = [["NCIT:C16576"], ["NCIT:C20197", "diseaseType:rare"], ["ageBand:40-49"],
           ["diseaseType:oncological", "ageBand:60-69"], ["HP:0000005"], ["node:KDKBEN002"],
           ["NCIT:C16576", "HP:0000012", "HP:0000013"]]


class BenchClinicalNode:
    """A KDK reporting fixed synthetic clinical datasets (the data service's read contract)."""

    def __init__(self, node_id: str, rows: list[dict]) -> None:
        self.node_id = node_id
        self.rows = rows

    def get_dataset_attributes(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=CLINICAL_ATTRIBUTES, orient="row")

    def read_fields(self, pseudonyms: object, fields: object) -> pl.DataFrame:
        raise NotImplementedError("feasibility reads no fields")


def make_clinical_nodes(n_persons: int = 2000, seed: int = 7) -> list[BenchClinicalNode]:
    """``n_persons`` synthetic clinical datasets spread over :data:`KDKS`."""
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = {kdk: [] for kdk in KDKS}
    for i in range(n_persons):
        kdk = KDKS[i % len(KDKS)]
        rows[kdk].append({
            "pseudonym": f"KDP1-{i:06d}", "disease_type": rng.choice(["rare", "oncological"]),
            "library_type": rng.choice(["wgs", "wes"]), "sex": rng.choice(["female", "male"]),
            "birth_date": f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}",
            "icd10gm": [f"G{rng.randint(10, 40)}"],
            "hpo": [f"HP:{rng.randint(1, 40):07d}" for _ in range(rng.randint(0, 4))]})
    return [BenchClinicalNode(kdk, rows[kdk]) for kdk in KDKS]


def prepare_feasibility(config: GenomlabConfig) -> PersonCredentials:
    """The index, the data service's own platform client and a person with a credential."""
    build_feasibility_index(config, [], make_clinical_nodes())
    NodeRegistry(config).ensure_approved(DATA_SERVICE_NODE, name="bench DS", actor="bench")
    issued = issue_client(config, DATA_SERVICE_NODE, actor="bench")
    save_client_credentials(get_credentials_path(Institution(config, "data_service").directory),
                            ClientCredentials(issued.client_id, issued.client_secret,
                                              DATA_SERVICE_NODE))
    wf = Workflow(config)
    wf.bootstrap_admin("root", institution="BfArM")
    wf.register_user("root", "bench-person", institution="Uni Bench")
    person = issue_person_credential(config, "bench-person", actor="operator:bench")
    return PersonCredentials(person.client_id, person.client_secret, "bench-person")


def make_report(seed: str) -> dict:
    """A genomic Prüfbericht of the benchmark GRZ with a TAN of its own."""
    return {"SubmittedCase": {
        "submissionDate": "2024-10-01", "submissionType": "initial",
        "tan": hashlib.sha256(seed.encode()).hexdigest().upper(), "submitterId": "260914050",
        "dataNodeId": NODE, "diseaseType": "rare", "dataCategory": "genomic",
        "libraryType": "wgs", "coverageType": "GKV", "dataQualityCheckPassed": True}}


def timed_alternately(n: int, *uploads: Callable[[int], None]) -> list[list[float]]:
    """Latencies (s) of ``n`` uploads by each function, taken in turns after 10 warm-ups each.

    Taking turns exposes every path to the same machine load (the CI machine is shared); the
    order of the turn rotates, so each path follows each other one equally often (a request
    right after some milliseconds of in-process work found the service's threads cold: at load 7
    the path in that place measured up to 5 ms slower than the same request one place later).
    """
    for i in range(10):
        for upload in uploads:
            upload(-1 - i)
    latencies: list[list[float]] = [[] for _ in uploads]
    indexed = list(enumerate(uploads))
    for i in range(n):
        shift = i % len(indexed)
        for k, upload in indexed[shift:] + indexed[:shift]:
            start = time.perf_counter()
            upload(i)
            latencies[k].append(time.perf_counter() - start)
    return latencies


def describe(name: str, latencies: list[float], unit: str = "uploads") -> str:
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    rate = len(latencies) / sum(latencies)
    return f"{name:<18} {rate:>9.1f} {unit}/s   p50 {p50:6.2f} ms   p95 {p95:6.2f} ms"


def make_home(folder: Path, environ: dict[str, str]) -> tuple[GenomlabConfig, IssuedClient]:
    """A fresh home with the benchmark GRZ approved and its OAuth client issued."""
    config = load_config(environ={"GENOMLAB_HOME": str(folder / "home"), **environ})
    NodeRegistry(config).ensure_approved(NODE, name="benchmark GRZ", actor="bench")
    return config, issue_client(config, NODE, actor="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--granularity", choices=["boolean", "count"], default="boolean")
    parser.add_argument("--person-status-ttl", type=float, default=None,
                        help="the data service's services.person_status_ttl_seconds (0 to 2; "
                        "default: its configuration's default)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pruefbericht-"))
    budget = {"GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET": BUDGET}
    # One home per path: only the service writes its store, as in production. Sharing one store
    # made every path pay for the others' writes (SQLite drops a connection's page cache when
    # another connection commits), which added several ms to the service's p50.
    (config, client), (held_config, held_client), (service_config, service_client) = (
        make_home(work / name, budget) for name in ("cli", "held", "service"))
    prepare_feasibility(config)  # the in-process queries' home
    person = prepare_feasibility(service_config)

    held = open_platform_ledger(held_config)

    def in_process(i: int) -> None:
        receive_pruefbericht(config, NODE, make_report(f"local-{i}"), actor=client.client_id)

    def in_process_held(i: int) -> None:
        receive_pruefbericht(held_config, NODE, make_report(f"held-{i}"),
                             actor=held_client.client_id, ledger=held)

    repo = Path(__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(repo), **budget}
    ttl = (service_config.services.person_status_ttl_seconds if args.person_status_ttl is None
           else args.person_status_ttl)
    ds_env = {**env, "GENOMLAB_SERVICES__PERSON_STATUS_TTL_SECONDS": str(ttl)}
    with running_service(service_config, "platform", log=work / "service.log",
                         env=env) as service, httpx.Client(
            base_url=service.url, timeout=30,
            verify=ssl.create_default_context(cafile=str(service.ca))) as http, \
            running_service(service_config, "data_service", log=work / "ds.log",
                            env=ds_env) as ds, \
            httpx.Client(base_url=ds.url, timeout=30, verify=ds.ssl_context()) as ds_http:
        grant = http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": service_client.client_id,
            "client_secret": service_client.client_secret}).raise_for_status()
        token = grant.json()["access_token"]
        headers = {"Authorization": f"bearer {token}"}

        def through_service(i: int) -> None:
            http.post("/api/pruefbericht/upload", json=make_report(f"service-{i}"),
                      headers=headers).raise_for_status()

        node_client = PruefberichtClient(service_config, ClientCredentials(
            service_client.client_id, service_client.client_secret, NODE))

        def through_client(i: int) -> None:
            node_client.receive_pruefbericht(make_report(f"client-{i}"))

        def round_trip(i: int) -> None:
            http.get("/healthz").raise_for_status()

        with node_client:
            local, local_held, remote_client, remote, empty = timed_alternately(
                args.uploads, in_process, in_process_held, through_client, through_service,
                round_trip)

        tokens = BearerTokens(service_config, person, PERSON_SCOPE)

        def request(i: int) -> dict:
            return make_request(FILTERS[i % len(FILTERS)],
                                granularity=args.granularity)  # type: ignore[arg-type]

        def query_in_process(i: int) -> None:
            run_feasibility_query(config, request(i), user="bench-in-process")

        def query_service(i: int) -> None:
            ds_http.post("/api/feasibility", json=request(i),
                         headers=tokens.headers()).raise_for_status()

        def ds_round_trip(i: int) -> None:
            ds_http.get("/healthz").raise_for_status()

        look_up = KeptPlatformClient(service_config, load_client_credentials(
            get_credentials_path(Institution(service_config, "data_service").directory)))

        def person_status(i: int) -> None:
            look_up.get_person_status("bench-person")

        q_local, q_remote, q_empty, q_status = timed_alternately(
            args.queries, query_in_process, query_service, ds_round_trip, person_status)
    print(f"Prüfbericht uploads, {args.uploads} each, sequential, taking turns, one new TAN "
          "per upload")
    print(describe("in-process (CLI)", local))
    print(describe("in-process (held)", local_held))
    print(describe("service (client)", remote_client))
    print(describe("service (httpx)", remote))
    for name, rows in (("CLI", local), ("held", local_held)):
        print(f"ratio in-process ({name})/service (client) "
              f"{sum(remote_client) / sum(rows):.2f}x")
    print(f"p50 HTTPS round trip alone (GET /healthz): {statistics.median(empty) * 1000:.2f} ms")
    overhead = (statistics.median(remote_client) - statistics.median(local_held)) * 1000
    bare = (statistics.median(remote) - statistics.median(local_held)) * 1000
    print(f"p50 service overhead {overhead:.2f} ms (goal < 5 ms: "
          f"{'met' if overhead < 5 else 'NOT met'}); bare httpx calls: {bare:.2f} ms")
    print()
    print(f"Feasibility queries ({args.granularity}), {args.queries} each, sequential, taking "
          f"turns, 2,000 clinical datasets at {len(KDKS)} KDKs; the data service reuses the "
          f"platform's answer about a token for {ttl:g} s (services.person_status_ttl_seconds)")
    print(describe("in-process (CLI)", q_local, "queries"))
    print(describe("service", q_remote, "queries"))
    print(f"ratio in-process/service {sum(q_remote) / sum(q_local):.2f}x")
    print(f"p50 HTTPS round trip alone (GET /healthz): {statistics.median(q_empty) * 1000:.2f} ms")
    print(f"p50 the platform's person look-up alone (what the service asks per query): "
          f"{statistics.median(q_status) * 1000:.2f} ms")
    q_overhead = (statistics.median(q_remote) - statistics.median(q_local)) * 1000
    print(f"p50 service overhead {q_overhead:.2f} ms (goal < 5 ms: "
          f"{'met' if q_overhead < 5 else 'NOT met'}; includes the person check: the "
          f"platform asked at most every {ttl:g} s per token)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
