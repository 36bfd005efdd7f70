"""Feasibility: Beacon v2 answers from the index, matching truth.json, with every suppression.

The index is the one the world home's data service built over the nodes' real readers after the
real intake, so a count is of research-consented genome datasets held by each GRZ.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.store import DataServiceProjection, open_data_service_ledger
from genomlab.data_service.suppression import format_small
from genomlab.errors import ValidationFailed
from genomlab.ledger import projection_matches
from tests.conftest import config_for
from tests.data_service.conftest import WorldHome, get_dataset_pseudonyms

pytestmark = pytest.mark.hail  # the world home's GRZs hold their genotypes in Hail stores

K = 10


def _truth_counts(world_home: WorldHome, **where: str) -> Counter[str]:
    """Consented genome datasets per GRZ with the given truth.json values."""
    return Counter(s["grz"] for s in world_home.consented_samples
                   if all(s[key] == value for key, value in where.items()))


def _ask(config: GenomlabConfig, filters: list[str], user: str = "alice",
         granularity: str = "count") -> dict[str, Any]:
    return run_feasibility_query(config, make_request(filters, granularity=granularity),  # type: ignore[arg-type]
                                 user=user)


def _cells(answer: dict[str, Any]) -> dict[str, Any]:
    return {r["id"]: r["resultsCount"] for r in answer["response"]["resultSets"]}


def test_run_feasibility_query__genome_side_counts_match_truth(world_config: GenomlabConfig,
                                                               world_home: WorldHome) -> None:
    answer = _ask(world_config, ["diseaseType:rare"])
    truth = _truth_counts(world_home, disease_type="rare")
    shown = {node: n for node, n in truth.items() if n >= K}
    assert 0 < len(shown) < len(truth)  # the committed world has shown and hidden rare cells
    assert set(answer) >= {"meta", "responseSummary", "response"}
    assert answer["meta"]["returnedGranularity"] == "count"
    assert answer["responseSummary"]["exists"] is True
    assert _cells(answer) == {node: n if n >= K else f"<{K}" for node, n in truth.items()}
    assert answer["responseSummary"]["numTotalResults"] == f"≥{sum(shown.values())}"


def test_run_feasibility_query__exact_total_when_no_cell_is_small(
        world_config: GenomlabConfig, world_home: WorldHome) -> None:
    truth = _truth_counts(world_home, disease_type="rare")
    shown = sorted(node for node, n in truth.items() if n >= K)
    answer = _ask(world_config, ["diseaseType:rare", *(f"node:{node}" for node in shown)])
    assert _cells(answer) == {node: truth[node] for node in shown}
    assert answer["responseSummary"]["numTotalResults"] == sum(truth[node] for node in shown)


def test_run_feasibility_query__clinical_filters_counted_at_the_kdks(
        world_config: GenomlabConfig, world_home: WorldHome) -> None:
    answer = _ask(world_config, ["HP:0001250", "HP:0001252"])
    assert answer["info"]["countedUnit"] == "clinical datasets"
    assert {r["id"] for r in answer["response"]["resultSets"]} <= set(
        world_home.truth["institutions"]["kdk"])
    assert answer["responseSummary"]["exists"] is True


def test_run_feasibility_query__small_cell_shown_below_threshold(
        world_config: GenomlabConfig, world_home: WorldHome) -> None:
    # oncological at one GRZ: find a node whose true count is between 1 and 9
    truth = _truth_counts(world_home, disease_type="oncological")
    node = next(n for n, c in sorted(truth.items()) if 0 < c < K)
    answer = _ask(world_config, ["diseaseType:oncological", f"node:{node}"])
    assert answer["responseSummary"]["numTotalResults"] == f"<{K}"
    assert _cells(answer) == {node: f"<{K}"}
    assert answer["responseSummary"] == {"exists": True, "numTotalResults": f"<{K}"}


def test_run_feasibility_query__total_withheld_when_a_node_is_suppressed(
        world_config: GenomlabConfig, world_home: WorldHome) -> None:
    truth = _truth_counts(world_home, disease_type="oncological")
    assert any(0 < c < K for c in truth.values())
    answer = _ask(world_config, ["diseaseType:oncological"])
    shown = [n for n in truth.values() if n >= K]
    assert _cells(answer) == {node: n if n >= K else f"<{K}" for node, n in truth.items()}
    assert answer["responseSummary"]["numTotalResults"] == f"≥{sum(shown)}"


def test_run_feasibility_query__threshold_from_config(world_home: WorldHome,
                                                      world_config: GenomlabConfig) -> None:
    strict = config_for(world_config.home, GENOMLAB_DISCLOSURE__MIN_CELL_COUNT="1000")
    answer = _ask(strict, ["diseaseType:rare"])
    assert set(_cells(answer).values()) == {"<1000"}
    assert answer["responseSummary"]["numTotalResults"] == "<1000"


def test_run_feasibility_query__boolean_granularity_has_no_counts(
        world_config: GenomlabConfig) -> None:
    answer = _ask(world_config, ["diseaseType:rare"], granularity="boolean")
    assert answer["responseSummary"] == {"exists": True}
    assert all("resultsCount" not in r for r in answer["response"]["resultSets"])
    missing = _ask(world_config, ["ICD10GM:Z99"], granularity="boolean")
    assert missing["responseSummary"] == {"exists": False}


@pytest.mark.parametrize("filters", [["ICD10GM:G40", "node:GRZK00001"],
                                     ["node:GRZK00001", "node:KDKHD0002"], ["colour:blue"]])
def test_run_feasibility_query__unanswerable_filters_refused(world_config: GenomlabConfig,
                                                             filters: list[str]) -> None:
    with pytest.raises(ValidationFailed, match=r"query\.filters"):
        _ask(world_config, filters)


def test_feasibility_ledger__projection_matches(world_config: GenomlabConfig) -> None:
    _ask(world_config, ["diseaseType:rare"])
    _ask(world_config, ["HP:0001250"], granularity="boolean")
    ledger = open_data_service_ledger(world_config)
    types = [e.type for e in ledger.events()]
    assert types.count("feasibility.answered") == 2
    assert "feasibility.index_built" in types
    assert projection_matches(ledger, DataServiceProjection()) == []


def test_feasibility_cli__prints_beacon_json(world_config: GenomlabConfig,
                                             world_home: WorldHome, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from genomlab.cli import main
    from tests.conftest import write_config_file
    from tests.people_credentials import credentials_for

    config_file = write_config_file(world_config, tmp_path / "genomlab.toml")
    alice = credentials_for(world_config, "alice")
    named = CliRunner().invoke(main, ["--config", str(config_file), "data-service",
                                      "feasibility", "--filter", "diseaseType:rare",
                                      "--user", "alice"])
    assert named.exit_code == 2
    assert "No such option '--user'" in named.output
    result = CliRunner().invoke(main, ["--config", str(config_file), "data-service",
                                       "feasibility", "--filter", "diseaseType:rare",
                                       "--credentials", str(alice)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["responseSummary"]["exists"] is True
    assert _cells(answer) == {node: format_small(n)
                              for node, n in _truth_counts(world_home, disease_type="rare").items()}
    bad = CliRunner().invoke(main, ["--config", str(config_file), "data-service",
                                    "feasibility", "--filter", "colour:blue",
                                    "--credentials", str(alice)])
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: query.filters: unknown filter id 'colour:blue'")


@pytest.mark.notebook
def test_feasibility_notebook__runs_and_shows_counts(world_config: GenomlabConfig,
                                                     world_home: WorldHome, run_notebook: Any,
                                                     tmp_path: Any) -> None:
    from tests.conftest import write_config_file
    from tests.notebook_outputs import get_output_tables
    from tests.people_credentials import credentials_for

    config_file = write_config_file(world_config, tmp_path / "genomlab.toml")
    out = run_notebook("feasibility.ipynb", config_path=str(config_file),
                       filters=["diseaseType:rare"],
                       credentials=str(credentials_for(world_config, "alice")))
    [table] = get_output_tables(out)
    truth = _truth_counts(world_home, disease_type="rare")
    shown = sum(n for n in truth.values() if n >= K)
    expected = {**{node: str(format_small(n)) for node, n in truth.items()},
                "total": f"≥{shown}"}
    assert {node.strip('"'): count.strip('"')
            for node, count in zip(table["node"], table["count"], strict=True)} == expected


def test_run_feasibility_query__variant_presence_from_site_index(
        world_config: GenomlabConfig, genome_nodes: Any) -> None:
    import polars as pl

    sites = pl.concat([n.get_site_counts().with_columns(node=pl.lit(n.node_id))
                       for n in genome_nodes])
    per_variant = sites.group_by("variant").agg(pl.col("n_carriers").min().alias("low"))
    small = per_variant.filter(pl.col("low").is_between(1, K - 1)).sort("variant")["variant"][0]
    truth = dict(sites.filter(pl.col("variant") == small).select("node", "n_carriers").rows())
    answer = run_feasibility_query(world_config, make_request(variant=small,
                                                              granularity="count"), user="bob")
    assert answer["responseSummary"]["exists"] is True
    assert answer["info"]["countedUnit"] == "carriers"
    assert _cells(answer) == {node.node_id: format_small(truth.get(node.node_id, 0))
                              for node in genome_nodes}
    unseen = run_feasibility_query(world_config, make_request(variant="chr1:1:A:C"), user="bob")
    assert unseen["responseSummary"] == {"exists": False}


def test_build_feasibility_index__holds_no_pseudonym(world_config: GenomlabConfig,
                                                     world_home: WorldHome) -> None:
    from genomlab.data_service.index import load_feasibility_index

    index = load_feasibility_index(world_config)
    assert min(index.genome.height, index.clinical.height, index.sites.height) > 0
    text = "\n".join(json.dumps(table.to_dicts())
                     for table in (index.genome, index.clinical, index.sites))
    assert "GRZK00001" in text
    pseudonyms = get_dataset_pseudonyms(world_config, world_home.truth)
    assert pseudonyms
    assert not [p for p in pseudonyms if p in text]
