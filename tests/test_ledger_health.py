"""The ledger-health notebook: under papermill and served by Voila in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest
from bs4 import BeautifulSoup

from genomlab.config import GenomlabConfig
from genomlab.dashboards.ledger_health import compute_ledger_health
from genomlab.db import dispose_engines
from genomlab.institution import Institution
from genomlab.ledgers import open_ledger
from tests.browser_checks import read_page_table
from tests.conftest import write_config_file
from tests.html_tables import parse_html_tables

SUMMARY = re.compile(r"3 institutions, 20 events, all verified "
                     r"\(checked \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\)")
"""The summary line of :func:`busy_home` (the check time varies)."""


def _as_shown(health: pl.DataFrame) -> list[dict[str, str]]:
    """The health table's rows as the page shows them (text; nothing for a missing value)."""
    return [{key: "" if value is None else str(value) for key, value in row.items()}
            for row in health.iter_rows(named=True)]


@pytest.fixture
def busy_home(config: GenomlabConfig) -> GenomlabConfig:
    for kind, node, n in (("platform", None, 12), ("grz", "GRZK00001", 5), ("kdk", "KDKTUE005", 3)):
        inst = Institution(config, kind, node)  # type: ignore[arg-type]
        ledger = open_ledger(inst)
        for _ in range(n):
            ledger.append("institution.initialised", {"institution": inst.name, "store": "test"},
                          actor="operator")
    return config


def test_compute_ledger_health__counts_and_flags_tampering(busy_home: GenomlabConfig) -> None:
    health = compute_ledger_health(busy_home)
    assert dict(zip(health["institution"], health["events"], strict=True)) == {
        "platform": 12, "grz:GRZK00001": 5, "kdk:KDKTUE005": 3}
    assert set(health["status"]) == {"ok"}
    dispose_engines()
    with Institution(busy_home, "platform").engine().begin() as con:  # SQLite or PostgreSQL
        con.exec_driver_sql("DELETE FROM ledger_events WHERE seq = 4")
    broken = compute_ledger_health(busy_home).filter(institution="platform").row(0, named=True)
    assert broken["status"] == "BROKEN"
    assert broken["first_bad_seq"] == 4


@pytest.mark.notebook
def test_ledger_health_notebook__runs_under_papermill(
    busy_home: GenomlabConfig, run_notebook: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = write_config_file(busy_home, tmp_path / "genomlab.toml")
    out = run_notebook("ledger_health.ipynb", config_path=str(cfg))
    nb = nbformat.read(out, as_version=4)
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    html = "".join(str(w["state"].get("value", "")) for w in states.values())
    summary = BeautifulSoup(html, "html.parser").select_one("p.genomlab-summary")
    assert summary is not None
    assert SUMMARY.fullmatch(summary.get_text())
    [table] = parse_html_tables(html)
    assert table.to_dict("records") == _as_shown(compute_ledger_health(busy_home))
    assert table.set_index("institution").loc["grz:GRZK00001", "events"] == "5"
    plot = BeautifulSoup(html, "html.parser").select_one("img.genomlab-plot")
    assert plot is not None, "the activity plot is missing"
    assert plot["alt"] == "Line plot: events per day and institution"
    assert plot["src"].startswith("data:image/png;base64,")


@pytest.mark.browser
def test_ledger_health_dashboard__shows_real_numbers_in_chromium(
    busy_home: GenomlabConfig, voila: Callable[..., str], page: Any, tmp_path: Path
) -> None:
    cfg = write_config_file(busy_home, tmp_path / "genomlab.toml")
    url = voila("ledger_health.ipynb", env={"GENOMLAB_CONFIG": str(cfg)})
    page.goto(url, timeout=120_000)
    page.wait_for_selector("table.genomlab-ledger-health", timeout=120_000)
    assert SUMMARY.fullmatch(page.inner_text(".genomlab-summary"))
    table = read_page_table(page, "table.genomlab-ledger-health")
    assert table.to_dict("records") == _as_shown(compute_ledger_health(busy_home))
    platform = table.set_index("institution").loc["platform"]
    assert (platform["events"], platform["status"]) == ("12", "ok")
    content = page.content()
    assert "Error displaying widget" not in content
    assert "Failed to load model" not in content
