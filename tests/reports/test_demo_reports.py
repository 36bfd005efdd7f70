"""The demo's scheduled public reports publish, and a demo home still reads after a move.

One demo home (no Hail, fixed clock) is shared by the module: its report step runs the shipped
schedule with papermill.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.clock import ticking_from, use_clock
from genomlab.config import GenomlabConfig
from genomlab.demo import run_demo
from genomlab.reports.runner import get_run_history
from genomlab.reports.tables import read_count_declaration
from tests.conftest import config_for, copy_home

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

DEMO_TIME = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PUBLIC_REPORTS = ("platform-activity", "register-statistics")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> GenomlabConfig:
    config = config_for(tmp_path_factory.mktemp("demo") / "home")
    with use_clock(ticking_from(DEMO_TIME)):
        run_demo(config, use_hail=False, echo=lambda _: None)
    return config


def test_run_demo__scheduled_public_reports_publish(demo_home: GenomlabConfig) -> None:
    from bs4 import BeautifulSoup

    runs = {run["name"]: run for run in get_run_history(demo_home)}
    assert {name: runs[name]["status"] for name in PUBLIC_REPORTS} == {
        "platform-activity": "published", "register-statistics": "published"}
    threshold = demo_home.disclosure.min_cell_count
    checked_tables = 0
    people: list[str] = []
    for name in PUBLIC_REPORTS:
        [public] = (demo_home.reports_dir / "public" / name).iterdir()
        for table in sorted((public / "tables").glob("*.csv")):
            declared = read_count_declaration(table)
            frame = pl.read_csv(table)
            count_columns = [c for c in frame.columns if c.startswith("n_")]
            assert count_columns, table
            assert set(count_columns) <= set(declared), table
            for column, unit in declared.items():
                if unit == "people":  # no person count below the threshold is published
                    people.append(table.name)
                    for value in frame[column].cast(pl.String).to_list():
                        assert value in (f"<{threshold}", "0") or int(value) >= threshold
            checked_tables += 1
        page = BeautifulSoup((public / "report.html").read_text(), "html.parser")
        banner = page.find("header", class_="genomlab-report-banner")
        assert banner is not None
        assert "status-published" in banner["class"]
        text = banner.get_text(" ", strip=True)
        assert "Period:" in text
        assert "Run: 2026-12-02" in text
        assert "Counts of people below 10 are never published." in text
        assert page.find("h1") is not None
        table = page.find("table", class_="genomlab-report-table")
        assert [th.get_text(" ", strip=True).split(" count of ")[0]
                for th in table.find("thead").find_all("th")][-1] in ("Events", "Applications")
        assert "withheld" not in runs[name]["status"]
    assert checked_tables == 5
    assert people == ["confirmed_cases_by_quarter.csv"]  # the one count of people, gated
    # nothing withheld for counting applications: the demo's one application is published as 1
    [register] = (demo_home.reports_dir / "public" / "register-statistics").iterdir()
    assert (register / "tables" / "applications_by_purpose.csv").read_text().splitlines()[1:] == [
        "research,1"]


def test_moved_home__read_commands_and_ledger_verify_work(demo_home: GenomlabConfig,
                                                          tmp_path: Path) -> None:
    """The module's last test: it moves the shared home away."""
    original = demo_home.home
    moved = copy_home(original, tmp_path / "elsewhere" / "moved")
    shutil.rmtree(original)
    env = {"GENOMLAB_HOME": str(moved.home)}

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    assert "ok" in run("ledger", "verify")
    history = json.loads(run("reports", "history", "--format", "json"))
    assert len(history) == 3
    for row in history:
        assert Path(row["output_dir"]).is_relative_to(moved.home)
        assert (Path(row["output_dir"]) / "report.html").is_file()
    [entry] = json.loads(run("platform", "register", "show", "--format", "json"))
    assert entry["project_id"] == "GDE-2026-0001"
    events = json.loads(run("ledger", "show", "-i", "platform", "--format", "json"))
    assert "application.approved" in {e["type"] for e in events}
    stores = json.loads(run("db", "status", "--format", "json"))
    assert {"platform", "reports"} <= {row["institution"] for row in stores}
    # no store, record or configuration of the home names the folder it was made in
    leaking = [str(p.relative_to(moved.home)) for p in moved.home.rglob("*")
               if p.is_file() and p.suffix != ".ipynb"
               and str(original).encode() in p.read_bytes()]
    assert leaking == []
