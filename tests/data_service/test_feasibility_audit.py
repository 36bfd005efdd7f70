"""Issue 21: the differencing audit is per requester, within a query budget, and catches
three-query differencing. The index is built by the real code from hand-built node reports
(:mod:`tests.data_service.reported_nodes`), so no Hail is needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index
from genomlab.data_service.store import DataServiceProjection, open_data_service_ledger
from genomlab.errors import PermissionDenied
from genomlab.ledger import projection_matches
from tests.conftest import config_for, write_config_file
from tests.data_service.reported_nodes import (
    INDEXED_ON,
    MOST_RARE_WOMEN_TERM,
    NARROW_TERMS,
    ReportedClinicalNode,
    count_per_node,
    make_clinical_world,
)

K = 10
START = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
ORDINARY = [  # (filters, who is counted): clinical side, sex/disease type/age band/node only
    (["NCIT:C16576"], lambda r: r["sex"] == "female"),
    (["ageBand:40-49"], lambda r: r["birth_date"] == "1980-05"),
    (["ageBand:30-39", "ageBand:60-69"], lambda r: r["birth_date"] in ("1992-03", "1960-02")),
    (["NCIT:C16576", "diseaseType:rare"],
     lambda r: r["sex"] == "female" and r["disease_type"] == "rare"),
    (["NCIT:C16576", "ageBand:60-69"],
     lambda r: r["sex"] == "female" and r["birth_date"] == "1960-02"),
    (["diseaseType:rare", "ageBand:30-39"],
     lambda r: r["disease_type"] == "rare" and r["birth_date"] == "1992-03"),
    (["node:KDKK00001", "NCIT:C16576"], lambda r: r["sex"] == "female"),
    (["diseaseType:oncological", "ageBand:40-49"],
     lambda r: r["disease_type"] == "oncological" and r["birth_date"] == "1980-05"),
    (["NCIT:C16576", "diseaseType:oncological", "ageBand:30-39", "ageBand:40-49"],
     lambda r: r["sex"] == "female" and r["disease_type"] == "oncological"
     and r["birth_date"] in ("1992-03", "1980-05")),
    (["diseaseType:rare", "ageBand:40-49", "ageBand:60-69"],
     lambda r: r["disease_type"] == "rare" and r["birth_date"] in ("1980-05", "1960-02")),
]


@pytest.fixture
def nodes() -> list[ReportedClinicalNode]:
    return make_clinical_world()


@pytest.fixture
def config(tmp_path: Path, nodes: list[ReportedClinicalNode]) -> GenomlabConfig:
    """A home whose data service indexed the two hand-built KDKs."""
    config = config_for(tmp_path / "home")
    build_feasibility_index(config, [], nodes, on=INDEXED_ON)
    return config


def _ask(config: GenomlabConfig, filters: list[str], user: str,
         granularity: str = "count") -> dict[str, Any]:
    return run_feasibility_query(config, make_request(filters, granularity=granularity),  # type: ignore[arg-type]
                                 user=user)


def _cells(answer: dict[str, Any]) -> dict[str, Any]:
    return {r["id"]: r["resultsCount"] for r in answer["response"]["resultSets"]}


def test_run_feasibility_query__narrow_queries_of_one_user_suppress_no_one_else(
        config: GenomlabConfig, nodes: list[ReportedClinicalNode]) -> None:
    """The trial's attack: 21 narrow queries by one user, then 10 ordinary ones by another."""
    for term in NARROW_TERMS:
        narrow = _ask(config, [term], user="mallory")
        assert narrow["responseSummary"]["numTotalResults"] in (f"<{K}", "suppressed")
    suppressed = []
    for filters, where in ORDINARY:
        answer = _ask(config, filters, user="bob")
        expected = count_per_node(nodes, where)
        if "node:KDKK00001" in filters:
            expected = {"KDKK00001": expected["KDKK00001"]}
        if answer["responseSummary"]["numTotalResults"] == "suppressed":
            suppressed.append(filters)
            continue
        assert min(expected.values()) >= K  # an ordinary query: no small cell of its own
        assert _cells(answer) == expected
        assert answer["responseSummary"]["numTotalResults"] == sum(expected.values())
        assert answer["info"]["suppression"] == []
    assert suppressed == []


def test_run_feasibility_query__own_narrow_differencing_still_suppressed(
        config: GenomlabConfig) -> None:
    """Per-requester auditing still catches a requester's own pair: women, then women minus
    the one holder of a narrow term."""
    assert isinstance(_ask(config, ["NCIT:C16576", "diseaseType:rare"],
                           user="mallory")["responseSummary"]["numTotalResults"], int)
    second = _ask(config, ["NCIT:C16576", "diseaseType:rare", MOST_RARE_WOMEN_TERM],
                  user="mallory")
    assert second["responseSummary"]["numTotalResults"] == "suppressed"
    assert "differencing: differs from an earlier answer by a small cell" in (
        second["info"]["suppression"])
    other = _ask(config, ["NCIT:C16576", "diseaseType:rare", MOST_RARE_WOMEN_TERM],
                 user="bob")  # bob never asked the wider query
    assert isinstance(other["responseSummary"]["numTotalResults"], int)


def test_run_feasibility_query__three_query_union_differencing_suppressed(
        config: GenomlabConfig, nodes: list[ReportedClinicalNode]) -> None:
    """Women P, men Q, then everyone at the first KDK R: R minus (P union Q) is one person of
    unknown sex, while R differs from P and from Q alone by more than 10 at every node."""
    women = _ask(config, ["NCIT:C16576"], user="mallory")
    men = _ask(config, ["NCIT:C20197"], user="mallory")
    assert isinstance(women["responseSummary"]["numTotalResults"], int)
    assert isinstance(men["responseSummary"]["numTotalResults"], int)
    assert count_per_node(nodes, lambda r: r["sex"] is None) == {"KDKK00001": 1, "KDKTUE005": 0}
    everyone = _ask(config, ["node:KDKK00001"], user="mallory")
    assert everyone["responseSummary"] == {"exists": True, "numTotalResults": "suppressed"}
    assert _cells(everyone) == {"KDKK00001": "suppressed"}
    assert ("differencing: differs by a small cell from the union of two earlier answers"
            in everyone["info"]["suppression"])
    alone = _ask(config, ["node:KDKK00001"], user="bob")  # without P and Q: answered
    assert _cells(alone) == {"KDKK00001": count_per_node(nodes, lambda r: True)["KDKK00001"]}


def test_run_feasibility_query__three_query_intersection_differencing_suppressed(
        config: GenomlabConfig, nodes: list[ReportedClinicalNode]) -> None:
    """Women P, rare Q (any age band), then a term R held by every rare woman but one:
    (P and Q) minus R is one person, while R differs from P and from Q alone by 30 or more at
    every node."""
    for filters in (["NCIT:C16576"],
                    ["diseaseType:rare", "ageBand:30-39", "ageBand:40-49", "ageBand:60-69"]):
        answer = _ask(config, filters, user="mallory")
        assert isinstance(answer["responseSummary"]["numTotalResults"], int)
    rare_women = count_per_node(nodes, lambda r: r["sex"] == "female"
                                and r["disease_type"] == "rare")
    holders = count_per_node(nodes, lambda r: MOST_RARE_WOMEN_TERM in r["hpo"])
    assert {n: rare_women[n] - holders[n] for n in holders} == {"KDKK00001": 1, "KDKTUE005": 0}
    term = _ask(config, [MOST_RARE_WOMEN_TERM], user="mallory")
    assert term["responseSummary"]["numTotalResults"] == "suppressed"
    assert ("differencing: differs by a small cell from the intersection of two earlier "
            "answers" in term["info"]["suppression"])


def test_run_feasibility_query__budget_exhausted_is_refused_by_name(
        tmp_path: Path, nodes: list[ReportedClinicalNode]) -> None:
    config = config_for(tmp_path / "home", GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET="3",
                        GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET_DAYS="30")
    build_feasibility_index(config, [], nodes, on=INDEXED_ON)
    ledger = open_data_service_ledger(config)
    with clock.use_clock(clock.ticking_from(START)):
        _ask(config, ["diseaseType:rare"], user="erin")
        _ask(config, ["NCIT:C16576"], user="erin", granularity="boolean")
        _ask(config, ["ageBand:40-49"], user="erin")
        head = ledger.head()
        with pytest.raises(PermissionDenied, match=(
                r"^feasibility query budget used up: erin has had 3 of 3 answered queries in 30 "
                r"days \(disclosure\.feasibility_budget\); the next answer is possible from "
                r"2031-03-31T09:00")):
            _ask(config, ["diseaseType:oncological"], user="erin")
        assert ledger.head() == head  # refused: nothing recorded
        assert isinstance(_ask(config, ["diseaseType:oncological"], user="frank")[
            "responseSummary"]["numTotalResults"], int)  # another requester's budget
    with clock.use_clock(clock.ticking_from(START + timedelta(days=30, minutes=1))):
        again = _ask(config, ["diseaseType:oncological"], user="erin")
    assert isinstance(again["responseSummary"]["numTotalResults"], int)
    assert projection_matches(ledger, DataServiceProjection()) == []


def test_feasibility_cli__budget_refusal_is_one_error_line(tmp_path: Path,
                                                           config: GenomlabConfig) -> None:
    from genomlab.cli import main
    from tests.people_credentials import credentials_for

    config_file = write_config_file(config, tmp_path / "genomlab.toml")
    args = ["--config", str(config_file), "data-service", "feasibility", "--filter",
            "diseaseType:rare"]
    with clock.use_clock(clock.ticking_from(START)):
        erin = credentials_for(config, "erin")
        credentials_for(config, "frank")
        # frank's name in the environment changes nothing: the budget used is erin's
        env = {"GENOMLAB_DISCLOSURE__FEASIBILITY_BUDGET": "1", "GENOMLAB_CREDENTIALS": str(erin),
               "JUPYTERHUB_USER": "frank", "GENOMLAB_LOCAL_USER": "frank"}
        first = CliRunner().invoke(main, args, env=env)
        refused = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: feasibility query budget used up: erin has had 1 "
                                     "of 1 answered queries in 30 days")
    assert len(refused.output.strip().splitlines()) == 1


def test_run_feasibility_query__idempotency_key_reused_for_another_question_is_recorded(
        config: GenomlabConfig) -> None:
    """A retry (same person, key and request) is answered again without a second record; the
    same key sent with another question is a new query, recorded and audited like any other,
    so a reused key cannot ask unrecorded questions (and evade differencing or the budget)."""
    def ask(filters: list[str], key: str) -> dict[str, Any]:
        return run_feasibility_query(config, make_request(filters, granularity="count"),  # type: ignore[arg-type]
                                     user="mallory", request_key=key)

    def answered() -> int:
        return sum(e.type == "feasibility.answered"
                   for e in open_data_service_ledger(config).events())

    first = ask(["NCIT:C16576", "diseaseType:rare"], "k1")
    assert ask(["NCIT:C16576", "diseaseType:rare"], "k1") == first
    assert answered() == 1
    second = ask(["NCIT:C16576", "diseaseType:rare", MOST_RARE_WOMEN_TERM], "k1")
    assert answered() == 2
    assert second["responseSummary"]["numTotalResults"] == "suppressed"  # the pair is audited
