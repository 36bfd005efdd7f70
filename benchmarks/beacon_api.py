"""Beacon v2 queries per second over HTTP, with the disclosure audit on, beside in-process calls.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/beacon_api.py [--queries 200]``

Two fresh homes with the same feasibility index (2,000 synthetic clinical datasets at three
KDKs, :func:`benchmarks.pruefbericht_service.make_clinical_nodes`): one queried in-process
(:func:`genomlab.data_service.beacon_v2.answer_beacon_query`, as the route calls it), one
through ``genomlab serve data-service`` (``POST /api/beacon/individuals`` over HTTPS, one
keep-alive connection). Two callers on each path, taking turns query by query so both see the
same machine load: an anonymous one (boolean answers; the service checks no token) and a
verified person (``count`` granularity; the service verifies the token and asks the platform for
the person's standing at every query); on the HTTP path also a GA4GH visa holder (``count``; a
``ControlledAccessGrants`` visa for the clinical dataset of an approval, verified with the
platform's JWKS key and its approval asked of the platform at every query). Every answer on
every path is thresholded, audited against the requester's own earlier answers of any
granularity (differencing: its cost grows with the history, equally on both paths) and recorded
in the ledger. The budget is raised for the run (``GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET``).
Printed: queries per second, p50 and p95 per path and caller, and the ratio service/in-process.
The audit compares a new set with each distinct set the requester asked before: by default the
queries cycle through 7 filter sets; ``--distinct`` makes every query a new set, the audit's
worst case (cost ~ m² · rows).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks.pruefbericht_service import BUDGET, FILTERS, prepare_feasibility, timed_alternately
from genomlab.clients.oauth import BearerTokens
from genomlab.config import load_config
from genomlab.data_service.beacon_v2 import (
    ANONYMOUS_CALLER,
    BeaconCaller,
    answer_beacon_query,
    parse_beacon_request,
)
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.models import (
    TERMS_OF_USE_VERSION,
    ApplicationForm,
    DatasetTags,
    Role,
)
from genomlab.platform.person_credentials import PERSON_SCOPE
from genomlab.platform.visas import dataset_urn, decode_unverified, issue_visas
from genomlab.services.beacon_api import BEACON_PREFIX
from genomlab.services.process import running_service


def make_body(i: int, granularity: str, distinct: bool = False) -> dict[str, Any]:
    """The ``i``-th query: :data:`FILTERS` in turn; with ``distinct``, each also ANDed with an
    ICD-10-GM prefix G10..G40 in turn, so up to 217 distinct sets (a longer audit history)."""
    filters = FILTERS[i % len(FILTERS)]
    if distinct:
        filters = [*filters, f"ICD10GM:G{10 + (i // len(FILTERS)) % 31}"]
    return {
        "meta": {"apiVersion": "v2.0"},
        "query": {"filters": [{"id": f} for f in filters], "requestedGranularity": granularity},
    }


def approve_visa_holder(config: Any) -> str:
    """An approved application of ``bench-visa`` (clinical data); its visa for the tagged
    clinical dataset ``bench-clinical``."""
    wf = Workflow(config)
    for user, role in (("bench-handler", Role.HANDLER), ("bench-decider", Role.DECIDER)):
        wf.register_user("root", user, institution="BfArM")
        wf.grant_role("root", user, role)
    wf.register_user("root", "bench-visa", institution="Uni Bench")
    wf.tag_dataset(
        "root",
        DatasetTags(
            dataset_id="bench-clinical",
            title="Clinical data (bench)",
            data_category="clinical",
            duo_permission="GRU",
        ),
    )
    form = ApplicationForm.model_validate(
        {
            "title": "Beacon benchmark",
            "lay_summary": "How fast does the Beacon answer a visa holder?",
            "scientific_abstract": "Counts of synthetic clinical datasets, repeated.",
            "purposes": ("research",),
            "duo_permission": "HMB",
            "data_categories": ("clinical",),
            "clinical_fields": ("diagnosis",),
            "criteria": {"disease_types": ("rare",)},
            "duration_months": 12,
            "ethics_vote_reference": "EK Bench 1/2026",
            "accepted_terms": TERMS_OF_USE_VERSION,
        }
    )
    application_id = wf.create_draft("bench-visa", form)
    wf.submit("bench-visa", application_id)
    wf.assign_handler("bench-handler", application_id)
    wf.approve("bench-decider", application_id)
    return next(
        v
        for v in issue_visas(config, "bench-visa")
        if decode_unverified(v)["ga4gh_visa_v1"]["value"] == dataset_urn("bench-clinical")
    )


def describe(name: str, latencies: list[float]) -> str:
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    rate = len(latencies) / sum(latencies)
    return f"{name:<34} {rate:>8.1f} queries/s   p50 {p50:6.2f} ms   p95 {p95:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--distinct", action="store_true", help="every query a new filter set")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-beacon-"))
    budget = {"GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET": BUDGET}
    local, served = (
        load_config(environ={"GENOMLAB_HOME": str(work / name / "home"), **budget})
        for name in ("in-process", "service")
    )
    prepare_feasibility(local)
    person = prepare_feasibility(served)
    visa = approve_visa_holder(served)
    verified_local = BeaconCaller("bench-in-process", may_count=True)

    def local_anonymous(i: int) -> None:
        query = parse_beacon_request(make_body(i, "boolean", args.distinct), "individuals")
        answer_beacon_query(local, query, ANONYMOUS_CALLER)

    def local_verified(i: int) -> None:
        query = parse_beacon_request(make_body(i, "count", args.distinct), "individuals")
        answer_beacon_query(local, query, verified_local)

    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent), **budget}
    with (
        running_service(served, "platform", log=work / "platform.log", env=env),
        running_service(served, "data_service", log=work / "ds.log", env=env) as ds,
        httpx.Client(base_url=ds.url + BEACON_PREFIX, timeout=30, verify=ds.ssl_context()) as http,
    ):
        tokens = BearerTokens(served, person, PERSON_SCOPE)

        def http_anonymous(i: int) -> None:
            http.post(
                "/individuals", json=make_body(i, "boolean", args.distinct)
            ).raise_for_status()

        def http_verified(i: int) -> None:
            http.post(
                "/individuals", json=make_body(i, "count", args.distinct), headers=tokens.headers()
            ).raise_for_status()

        def http_visa(i: int) -> None:
            http.post(
                "/individuals",
                json=make_body(i, "count", args.distinct),
                headers={"Authorization": f"Bearer {visa}"},
            ).raise_for_status()

        def http_info(i: int) -> None:
            http.get("/info").raise_for_status()

        rows = timed_alternately(
            args.queries,
            local_anonymous,
            http_anonymous,
            local_verified,
            http_verified,
            http_visa,
            http_info,
        )
    names = [
        "in-process, anonymous (boolean)",
        "HTTP, anonymous (boolean)",
        "in-process, verified (count)",
        "HTTP, verified person (count)",
        "HTTP, visa holder (count)",
        "HTTP GET /info (no audit)",
    ]
    print(
        f"Beacon v2 /individuals, {args.queries} queries per path, sequential, taking turns, "
        f"audit on, 2,000 clinical datasets at 3 KDKs, "
        f"{'distinct filter sets' if args.distinct else f'{len(FILTERS)} filter sets in turn'}"
    )
    for name, latencies in zip(names, rows, strict=True):
        print(describe(name, latencies))
    print(
        f"ratio HTTP/in-process: anonymous {sum(rows[1]) / sum(rows[0]):.2f}x, "
        f"verified {sum(rows[3]) / sum(rows[2]):.2f}x, visa {sum(rows[4]) / sum(rows[2]):.2f}x"
    )


if __name__ == "__main__":
    main()
