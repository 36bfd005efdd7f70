"""Prüfbericht uploads through the platform service vs in-process calls (issue 15).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/pruefbericht_service.py [--uploads 300]``

One fresh home per path, each with one approved GRZ and its OAuth client (only one writer per
store, as in production). Then, side by side and taking turns:
- in-process (CLI): ``receive_pruefbericht`` as the CLI calls it (opens the ledger each time);
- in-process (held): the same function with the platform ledger held open, as the service
  holds it;
- service: ``POST /api/pruefbericht/upload`` over HTTPS (one keep-alive connection, one bearer
  token) to a ``genomlab serve platform`` subprocess, which verifies the token, checks the
  client and node status and then calls the same function with its held ledger.
Every upload carries a new TAN, so each one writes a ``pruefbericht.confirmed`` event and signs a
Meldebestätigung. Printed: uploads per second, p50/p95 latency, the ratios and the p50 service
overhead: service p50 minus in-process (held) p50, i.e. what HTTPS, the token check and the
client/node status check add to the same work (goal < 5 ms); and, for scale, the p50 of an
empty HTTPS round trip (``GET /healthz``) on the same connection.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from genomlab.config import GenomlabConfig, load_config
from genomlab.platform.confirmations import receive_pruefbericht
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.oauth_clients import IssuedClient, issue_client
from genomlab.platform.store import open_platform_ledger
from genomlab.services.process import running_service

NODE = "GRZBEN001"


def make_report(seed: str) -> dict:
    """A genomic Prüfbericht of the benchmark GRZ with a TAN of its own."""
    return {"SubmittedCase": {
        "submissionDate": "2024-10-01", "submissionType": "initial",
        "tan": hashlib.sha256(seed.encode()).hexdigest().upper(), "submitterId": "260914050",
        "dataNodeId": NODE, "diseaseType": "rare", "dataCategory": "genomic",
        "libraryType": "wgs", "coverageType": "GKV", "dataQualityCheckPassed": True}}


def timed_alternately(n: int, *uploads: Callable[[int], None]) -> list[list[float]]:
    """Latencies (s) of ``n`` uploads by each function, taken in turns after 10 warm-ups each.

    Taking turns exposes both paths to the same machine load (the CI machine is shared).
    """
    for i in range(10):
        for upload in uploads:
            upload(-1 - i)
    latencies: list[list[float]] = [[] for _ in uploads]
    for i in range(n):
        for upload, times in zip(uploads, latencies, strict=True):
            start = time.perf_counter()
            upload(i)
            times.append(time.perf_counter() - start)
    return latencies


def describe(name: str, latencies: list[float]) -> str:
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    rate = len(latencies) / sum(latencies)
    return f"{name:<18} {rate:>9.1f} uploads/s   p50 {p50:6.2f} ms   p95 {p95:6.2f} ms"


def make_home(folder: Path) -> tuple[GenomlabConfig, IssuedClient]:
    """A fresh home with the benchmark GRZ approved and its OAuth client issued."""
    config = load_config(environ={"GENOMLAB_HOME": str(folder / "home")})
    NodeRegistry(config).ensure_approved(NODE, name="benchmark GRZ", actor="bench")
    return config, issue_client(config, NODE, actor="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pruefbericht-"))
    # One home per path: only the service writes its store, as in production. Sharing one store
    # made every path pay for the others' writes (SQLite drops a connection's page cache when
    # another connection commits), which added several ms to the service's p50.
    (config, client), (held_config, held_client), (service_config, service_client) = (
        make_home(work / name) for name in ("cli", "held", "service"))
    held = open_platform_ledger(held_config)

    def in_process(i: int) -> None:
        receive_pruefbericht(config, NODE, make_report(f"local-{i}"), actor=client.client_id)

    def in_process_held(i: int) -> None:
        receive_pruefbericht(held_config, NODE, make_report(f"held-{i}"),
                             actor=held_client.client_id, ledger=held)

    repo = Path(__file__).resolve().parent.parent
    with running_service(service_config, "platform", log=work / "service.log",
                         env={"PYTHONPATH": str(repo)}) as service, httpx.Client(
            base_url=service.url, timeout=30,
            verify=ssl.create_default_context(cafile=str(service.ca))) as http:
        grant = http.post("/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": service_client.client_id,
            "client_secret": service_client.client_secret}).raise_for_status()
        token = grant.json()["access_token"]
        headers = {"Authorization": f"bearer {token}"}

        def through_service(i: int) -> None:
            http.post("/api/pruefbericht/upload", json=make_report(f"service-{i}"),
                      headers=headers).raise_for_status()

        def round_trip(i: int) -> None:
            http.get("/healthz").raise_for_status()

        local, local_held, remote, empty = timed_alternately(
            args.uploads, in_process, in_process_held, through_service, round_trip)
    print(f"Prüfbericht uploads, {args.uploads} each, sequential, taking turns, one new TAN "
          "per upload")
    print(describe("in-process (CLI)", local))
    print(describe("in-process (held)", local_held))
    print(describe("service", remote))
    for name, rows in (("CLI", local), ("held", local_held)):
        print(f"ratio in-process ({name})/service {sum(remote) / sum(rows):.2f}x")
    print(f"p50 HTTPS round trip alone (GET /healthz): {statistics.median(empty) * 1000:.2f} ms")
    overhead = (statistics.median(remote) - statistics.median(local_held)) * 1000
    print(f"p50 service overhead {overhead:.2f} ms (goal < 5 ms: "
          f"{'met' if overhead < 5 else 'NOT met'}); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
