"""run-due with a fixed clock: due reports run once, failures are recorded, public gate."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import genomlab.reports.activity
import genomlab.reports.register
import genomlab.reports.schedule
from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.errors import ValidationFailed
from genomlab.ledger import projection_matches
from genomlab.reports.runner import (
    ReportRunsProjection,
    get_run_history,
    open_reports_ledger,
    run_due_reports,
)
from genomlab.reports.schedule import load_schedule
from tests.airlock.conftest import Project
from tests.conftest import write_config_file
from tests.reports.conftest import ACTIVITY, REPO, add_platform_events, write_schedule
from tools.make_notebook import make_notebook

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.mark.sqlite_only  # the examples build a default home: SQLite stores
@pytest.mark.parametrize("module", [genomlab.reports.schedule, genomlab.reports.activity,
                                    genomlab.reports.register])
def test_docstring_examples__run(module) -> None:
    failures, tried = doctest.testmod(module)
    assert tried > 0
    assert failures == 0


def _text_lines(html: str) -> list[str]:
    """The lines of text an HTML page shows (each stripped), to compare whole lines."""
    from bs4 import BeautifulSoup

    return [line.strip() for line in BeautifulSoup(html, "html.parser").get_text().splitlines()]


def _events_by_institution(csv: Path) -> dict[str, int]:
    """Events per institution over the months of an ``activity_by_month.csv``."""
    import polars as pl

    table = pl.read_csv(csv).group_by("institution").agg(pl.col("n_events").sum())
    return dict(table.iter_rows())


def test_load_schedule__shipped_schedule_is_valid() -> None:
    path = REPO / "reports" / "schedule.toml"
    specs = load_schedule(path)
    assert [s.name for s in specs] == ["platform-activity", "airlock-activity",
                                     "register-statistics"]
    assert specs[0].audience == "public"
    assert specs[0].notebook.is_file()
    listed = CliRunner().invoke(main, ["reports", "list", "--schedule", str(path),
                                       "--now", "2026-11-22T09:30"])
    assert listed.exit_code == 0, listed.output
    header, _, *lines = listed.output.splitlines()
    assert header.split() == ["Report", "Audience", "Cron", "(UTC)", "Latest", "slot", "Next",
                              "slot", "Notebook"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert list(rows) == [s.name for s in specs]
    assert rows["platform-activity"][-3:] == ["2026-11-01T06:00+00:00",
                                              "2026-12-01T06:00+00:00", "platform_activity.ipynb"]
    as_json = CliRunner().invoke(main, ["reports", "list", "--schedule", str(path),
                                        "--now", "2026-11-22T09:30", "--format", "json"])
    first = json.loads(as_json.output)[0]
    assert (first["name"], first["next"]) == ("platform-activity", "2026-12-01T06:00+00:00")


def test_reports_list__default_schedule_found_from_any_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: no reports/schedule.toml here
    listed = CliRunner().invoke(main, ["reports", "list", "--now", "2026-11-22T09:30"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.output.splitlines()[2:]] == [
        "platform-activity", "airlock-activity", "register-statistics"]


def test_load_schedule__bad_cron_names_entry_and_field(tmp_path: Path) -> None:
    path = write_schedule(tmp_path / "s.toml", {"name": "x", "cron": "every day",
                                                 "notebook": str(ACTIVITY)})
    with pytest.raises(ValidationFailed, match=r"s.toml: report\[0\] \(x\): cron: not a valid"):
        load_schedule(path)


def test_latest_slot__daily_and_hourly() -> None:
    path_specs = [("0 6 * * *", "2026-11-22T06:00"), ("0 * * * *", "2026-11-22T09:00"),
                  ("30 9 * * *", "2026-11-22T09:30")]
    for cron, expected in path_specs:
        spec = genomlab.reports.schedule.ReportSpec(name="x", cron=cron, notebook=ACTIVITY)
        assert spec.latest_slot(NOW).isoformat(timespec="minutes") == expected + "+00:00"


@pytest.mark.notebook
@pytest.mark.slow
def test_run_due_reports__due_reports_run_once(config: GenomlabConfig, tmp_path: Path) -> None:
    add_platform_events(config, 12)
    specs = load_schedule(write_schedule(
        tmp_path / "s.toml",
        {"name": "hourly", "cron": "0 * * * *", "notebook": str(ACTIVITY)},
        {"name": "daily", "cron": "0 6 * * *", "notebook": str(ACTIVITY)},
    ))
    first = run_due_reports(config, specs, NOW)
    assert [(o.name, o.status) for o in first] == [("hourly", "succeeded"), ("daily", "succeeded")]
    assert run_due_reports(config, specs, NOW) == []
    later = run_due_reports(config, specs, datetime(2026, 11, 22, 10, 5, tzinfo=UTC))
    assert [o.key for o in later] == ["hourly@2026-11-22T10:00Z"]

    history = get_run_history(config)
    assert sorted(r["key"] for r in history) == [
        "daily@2026-11-22T06:00Z", "hourly@2026-11-22T09:00Z", "hourly@2026-11-22T10:00Z"]
    run = next(r for r in history if r["key"] == "daily@2026-11-22T06:00Z")
    out = Path(run["output_dir"])
    html = (out / "report.html").read_text()
    assert "Platform activity" in html
    assert "1 institutions; ledgers verified: 1 ok, 0 broken" in _text_lines(html)
    assert "<img" in html  # the plot
    assert "compute_monthly_activity" not in html  # no code
    assert set(run["outputs"]) >= {"report.html", "report.ipynb",
                                   "tables/activity_by_month.csv"}
    assert _events_by_institution(out / "tables" / "activity_by_month.csv") == {"platform": 12}
    assert projection_matches(open_reports_ledger(config), ReportRunsProjection()) == []


@pytest.mark.notebook
@pytest.mark.slow
def test_run_due__failure_recorded_and_others_run(
    config: GenomlabConfig, tmp_path: Path, failing_notebook: Path
) -> None:
    add_platform_events(config, 12)
    schedule = write_schedule(
        tmp_path / "s.toml",
        {"name": "broken", "cron": "0 6 * * *", "notebook": str(failing_notebook)},
        {"name": "activity", "cron": "0 6 * * *", "notebook": str(ACTIVITY)},
    )
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    result = CliRunner().invoke(main, ["--config", str(cfg), "reports", "run-due",
                                       "--schedule", str(schedule), "--now", NOW.isoformat()])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "Error: 1 report(s) failed: broken@2026-11-22T06:00Z"
    runs = {r["name"]: r for r in get_run_history(config)}
    assert runs["broken"]["status"] == "failed"
    assert "source table missing" in runs["broken"]["reasons"][0]
    error_notebook = Path(runs["broken"]["output_dir"]) / "report.ipynb"
    assert "RuntimeError" in error_notebook.read_text()
    assert "report.ipynb" in runs["broken"]["outputs"]
    assert runs["activity"]["status"] == "succeeded"

    shown = CliRunner().invoke(main, ["--config", str(cfg), "reports", "history"])
    assert "broken@2026-11-22T06:00Z" in shown.output
    assert "failed" in shown.output


@pytest.mark.notebook
@pytest.mark.slow
def test_run_due_reports__public_event_counts_published_person_counts_gated(
    config: GenomlabConfig, tmp_path: Path
) -> None:
    add_platform_events(config, 3)
    people = tmp_path / "people.ipynb"
    make_notebook(str(people), "config_json = None\noutput_dir = '.'\nn = 3",
                  "from pathlib import Path\nimport polars as pl\n"
                  "from genomlab.reports.tables import write_report_table\n"
                  "write_report_table(pl.DataFrame({'sex': ['F'], 'n_persons': [n]}), "
                  "Path(output_dir) / 'tables', 'persons', counts={'n_persons': 'people'})")
    specs = load_schedule(write_schedule(
        tmp_path / "s.toml",
        {"name": "public-activity", "cron": "0 6 * * *", "notebook": str(ACTIVITY),
         "audience": "public"},
        {"name": "persons", "cron": "0 6 * * *", "notebook": str(people),
         "audience": "public"}))
    published, withheld = run_due_reports(config, specs, NOW)
    # 3 events: a count of events, declared as such, is not suppressed
    assert (published.status, published.reasons) == ("published", [])
    public = config.reports_dir / "public" / "public-activity" / "2026-11-22T0600Z"
    assert _events_by_institution(public / "tables" / "activity_by_month.csv") == {
        "platform": 3}
    assert (public / "tables" / "activity_by_month.counts.json").read_text().strip() == (
        '{"n_events": "events"}')
    assert not list(public.glob("*.ipynb"))  # the notebook (with code) stays internal
    # 3 persons: a count of people below the threshold is never published
    assert withheld.status == "withheld"
    assert any("n_persons = 3 is below the minimum group size 10" in r for r in withheld.reasons)
    assert not (config.reports_dir / "public" / "persons").exists()
    [finished] = [e for e in open_reports_ledger(config).events()
                  if e.type == "report.run.finished" and e.payload["key"].startswith("public")]
    assert finished.payload["criteria"]["declared_counts"] == {
        "tables/activity_by_month.csv:n_events": "events",
        "tables/confirmed_cases_by_quarter.csv:n_cases": "people",
        "tables/ledger_integrity.csv:n_events": "events"}


@pytest.mark.notebook
@pytest.mark.slow
def test_run_due_reports__airlock_activity_counts_reviews(project: Project) -> None:
    from genomlab.airlock.requests import record_review, submit_request

    project.write("by_sex.csv", "sex,n\nF,60\nM,55\n")
    cfg, d = project.config, project.directory
    request_id = submit_request(cfg, d, "alice", project.project, ["by_sex.csv"])
    record_review(cfg, d, "hanna", request_id, "approve", "ok")
    record_review(cfg, d, "ute", request_id, "reject", "purpose unclear")
    specs = [s for s in load_schedule(REPO / "reports" / "schedule.toml")
             if s.name == "airlock-activity"]
    [outcome] = run_due_reports(cfg, specs, NOW)
    assert outcome.status == "succeeded"
    tables = Path(outcome.output_dir) / "tables"
    assert (tables / "requests_by_status.csv").read_text().splitlines() == [
        "status,n_requests", "rejected,1"]
    reviewers = (tables / "reviews_by_checker.csv").read_text().splitlines()
    assert reviewers[1].startswith("hanna,1,1,0,")
    assert reviewers[2].startswith("ute,1,0,1,")
    assert "1 release requests, 2 reviews by 2 checkers" in _text_lines(
        (Path(outcome.output_dir) / "report.html").read_text())


@pytest.mark.notebook
@pytest.mark.slow
def test_run_due_reports__register_statistics_gate(config: GenomlabConfig) -> None:
    from genomlab.platform.applications import Workflow
    from tests.platform.conftest import make_form, populate

    wf = Workflow(config)
    populate(wf)
    spec = [s for s in load_schedule(REPO / "reports" / "schedule.toml")
            if s.name == "register-statistics"]

    def submit(n: int) -> None:
        for _ in range(n):
            wf.submit("alice", wf.create_draft("alice", make_form()))

    submit(2)
    # applications are listed one by one in the public register: 2 is published as 2
    [first] = run_due_reports(config, spec, datetime(2026, 10, 1, 6, tzinfo=UTC))
    assert (first.status, first.reasons) == ("published", [])
    submit(9)
    [published] = run_due_reports(config, spec, datetime(2027, 1, 1, 6, tzinfo=UTC))
    assert published.status == "published"
    table = Path(published.output_dir) / "tables" / "applications_by_purpose.csv"
    assert table.read_text().splitlines() == ["purpose,n_applications", "research,11"]
