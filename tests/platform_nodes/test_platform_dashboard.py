"""The platform dashboard: real numbers from the platform's tables, in headless Chromium."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import grz_pydantic_models_testing.example_pruefberichte as examples
import pytest

from genomlab.errors import PermissionDenied
from genomlab.platform.confirmations import receive_pruefbericht
from genomlab.platform.nodes import NodeRegistry
from genomlab.platform.quarterly import compute_node_activity, compute_node_overview
from tests.browser_checks import (
    MATPLOTLIB_BLUE,
    MATPLOTLIB_ORANGE,
    count_pixels_of,
    read_page_table,
)
from tests.conftest import write_config_file

EXAMPLE = json.loads(importlib.resources.files(examples)
                     .joinpath("submission_example.json").read_text())["SubmittedCase"]


@pytest.fixture
def busy_platform(config):
    """Two approved nodes with 5 and 3 Prüfberichte (one failed QC); a third, suspended, refused."""
    registry = NodeRegistry(config)
    for node in ("KDKK00001", "GRZK00001", "GRZTUE002"):
        registry.ensure_approved(node, name=f"Node <{node}>", actor="op")
    for i in range(5):
        receive_pruefbericht(config, "KDKK00001", {"SubmittedCase": {
            **EXAMPLE, "dataNodeId": "KDKK00001", "tan": f"{i + 1:02d}" * 32,
            "submissionDate": f"2025-0{7 + i % 3}-01"}}, actor="n")
    for i in range(3):
        receive_pruefbericht(config, "GRZK00001", {"SubmittedCase": {
            **EXAMPLE, "dataNodeId": "GRZK00001", "dataCategory": "genomic", "libraryType": "wgs",
            "tan": f"a{i}" * 32, "submissionDate": "2025-10-02",
            "dataQualityCheckPassed": i != 0}}, actor="n")
    registry.suspend("GRZTUE002", actor="op", reason="audit")
    with pytest.raises(PermissionDenied):
        receive_pruefbericht(config, "GRZTUE002", {"SubmittedCase": {
            **EXAMPLE, "dataNodeId": "GRZTUE002", "dataCategory": "genomic"}}, actor="n")
    return config


def test_compute_node_activity__counts_rates_and_refusals(busy_platform):
    activity = compute_node_activity(busy_platform, period="quarter")
    grz = activity.filter(node_id="GRZK00001").row(0, named=True)
    assert (grz["period"], grz["confirmations"], grz["qc_passed"]) == ("2025-Q4", 3, 2)
    assert grz["qc_pass_rate"] == pytest.approx(2 / 3)
    assert activity.filter(node_id="KDKK00001")["confirmations"].to_list() == [5]
    overview = compute_node_overview(busy_platform)
    assert overview.filter(node_id="GRZTUE002").row(0, named=True)["refused"] == 1
    assert overview.filter(node_id="GRZTUE002").row(0, named=True)["status"] == "suspended"


@pytest.mark.browser
def test_platform_dashboard__shows_real_numbers_in_chromium(busy_platform, voila, page: Any,
                                                             tmp_path):
    cfg = write_config_file(busy_platform, tmp_path / "genomlab.toml")
    url = voila("platform.ipynb", env={"GENOMLAB_CONFIG": str(cfg)})
    page.goto(url, timeout=120_000)
    page.wait_for_selector("table.genomlab-platform-nodes", timeout=120_000)
    summary = page.inner_text(".genomlab-platform-summary")
    assert summary == ("3 nodes (2 approved), 8 Meldebestätigungen issued, QC passed 88%, "
                       "1 Prüfberichte refused")
    nodes = read_page_table(page, "table.genomlab-platform-nodes")
    overview = compute_node_overview(busy_platform)
    assert nodes.to_dict("records") == [{key: str(value) for key, value in row.items()}
                                        for row in overview.iter_rows(named=True)]
    assert nodes.set_index("node_id").loc["GRZK00001", "confirmations"] == "3"
    content = page.content()
    assert "Node &lt;GRZK00001&gt;" in content
    assert "Error displaying widget" not in content
    assert "Failed to load model" not in content
    [plot] = page.locator("img").all()
    drawn = plot.screenshot()  # the activity plot as Chromium shows it
    assert count_pixels_of(drawn, MATPLOTLIB_BLUE) > 50  # first node's line
    assert count_pixels_of(drawn, MATPLOTLIB_ORANGE) > 50  # second node's line


def test_listed_nodes_html__shows_the_seeded_list_with_unpublished_ids_named(busy_platform):
    from genomlab.dashboards.platform import listed_nodes_html
    from genomlab.platform.node_seed import get_registered_nodes_frame, get_seed_nodes, seed_nodes
    from tests.html_tables import parse_html_tables

    seed_nodes(busy_platform, actor="op")
    [listed] = parse_html_tables(listed_nodes_html(get_registered_nodes_frame(busy_platform)))
    seed = get_seed_nodes()
    assert sorted(listed["node_id"]) == sorted(entry["registry_id"] for entry in seed)
    by_id = listed.set_index("node_id")
    for entry in seed:
        shown = by_id.loc[entry["registry_id"]]
        assert shown["public_id"] == (entry["public_id"] or "not published")
    # a node registered before the seed keeps its name and status (here: suspended)
    assert by_id.loc["GRZTUE002", "status"] == "suspended"
    assert by_id.loc["GRZTUE002", "name"] == "Node <GRZTUE002>"
