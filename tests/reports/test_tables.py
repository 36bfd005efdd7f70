"""What report tables count and how they are shown: the disclosure gate applies to people."""

from __future__ import annotations

import doctest
from pathlib import Path

import polars as pl
import pytest

import genomlab.reports.tables
from genomlab.config import GenomlabConfig, load_config
from genomlab.errors import ValidationFailed
from genomlab.reports.runner import get_disclosure_reasons
from genomlab.reports.tables import write_report_table


def test_docstring_examples__run() -> None:
    failures, tried = doctest.testmod(genomlab.reports.tables)
    assert tried > 0
    assert failures == 0


@pytest.mark.parametrize(("unit", "passes"), [("applications", True), ("events", True),
                                               ("nodes", True), ("people", False)])
def test_get_disclosure_reasons__only_counts_of_people_are_gated(
        tmp_path: Path, unit: str, passes: bool) -> None:
    tables = tmp_path / "tables"
    frame = pl.DataFrame({"status": ["approved", "rejected"], "n": [2, 14]})
    write_report_table(frame, tables, "by_status", counts={"n": unit})
    reasons = get_disclosure_reasons(load_config(environ={"GENOMLAB_HOME": str(tmp_path)}),
                                     tmp_path)
    assert (reasons == []) is passes
    if not passes:
        assert reasons == ["tables/by_status.csv: min_cell_count fail: row 0 (status=approved): "
                           "n = 2 is below the minimum cell count 10"]


def test_get_disclosure_reasons__undeclared_count_is_checked_as_people(tmp_path: Path) -> None:
    (tmp_path / "tables").mkdir()
    pl.DataFrame({"status": ["approved"], "n_applications": [2]}).write_csv(
        tmp_path / "tables" / "t.csv")
    reasons = get_disclosure_reasons(load_config(environ={"GENOMLAB_HOME": str(tmp_path)}),
                                     tmp_path)
    assert len(reasons) == 1
    assert "n_applications = 2 is below the minimum cell count 10" in reasons[0]


def test_write_report_table__refuses_unknown_unit_and_missing_column(tmp_path: Path) -> None:
    frame = pl.DataFrame({"month": ["2026-01"], "n_events": [3]})
    with pytest.raises(ValidationFailed, match=r"x\.csv: column n_events: unknown unit 'things'"):
        write_report_table(frame, tmp_path, "x", counts={"n_events": "things"})
    with pytest.raises(ValidationFailed, match=r"x\.csv: column n_nodes: declared but not in"):
        write_report_table(frame, tmp_path, "x",
                           counts={"n_events": "events", "n_nodes": "nodes"})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_use_integer_ticks__small_counts_get_whole_number_ticks() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genomlab.reports.tables import use_integer_ticks

    fig, ax = plt.subplots()
    ax.bar(["2026-01", "2026-02"], [1, 3])
    use_integer_ticks(ax)
    fig.canvas.draw()
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    plt.close(fig)
    assert ticks
    assert all(float(t).is_integer() for t in ticks)


def _confirm_cases(config: GenomlabConfig, node_id: str, n: int, day: str) -> None:
    """Record ``n`` confirmed Prüfberichte of ``node_id`` (what the activity report counts)."""
    from genomlab.platform.store import open_platform_ledger

    with open_platform_ledger(config).transaction() as tx:
        for i in range(n):
            tx.append("pruefbericht.confirmed", {
                "confirmation_id": f"MB{node_id}{i:04d}", "tan_hash": f"{node_id}-{i}",
                "node_id": node_id, "data_category": "genomic", "qc_passed": True,
                "submitter_id": "260530103", "submission_date": day,
                "submission_type": "initial", "disease_type": "rare", "coverage_type": "GKV",
                "library_type": "wgs"}, actor="platform")


def test_compute_confirmed_cases__small_counts_of_people_suppressed_then_published(
        config: GenomlabConfig, tmp_path: Path) -> None:
    from genomlab.reports.activity import compute_confirmed_cases
    from genomlab.reports.tables import suppress_person_counts

    _confirm_cases(config, "GRZK00001", 3, "2026-10-05")
    _confirm_cases(config, "GRZTUE002", 12, "2026-11-20")
    cases = compute_confirmed_cases(config)
    assert cases.rows() == [("GRZK00001", "2026-Q4", 3), ("GRZTUE002", "2026-Q4", 12)]
    raw, suppressed = tmp_path / "raw", tmp_path / "suppressed"
    write_report_table(cases, raw / "tables", "cases", counts={"n_cases": "people"})
    assert get_disclosure_reasons(config, raw) == [
        "tables/cases.csv: group_sizes fail: row 0 (node=GRZK00001, quarter=2026-Q4): "
        "n_cases = 3 is below the minimum group size 10"]
    shown = suppress_person_counts(cases, ["n_cases"], threshold=10)
    write_report_table(shown, suppressed / "tables", "cases", counts={"n_cases": "people"})
    assert get_disclosure_reasons(config, suppressed) == []
    assert (suppressed / "tables" / "cases.csv").read_text().splitlines() == [
        "node,quarter,n_cases", "GRZK00001,2026-Q4,<10", "GRZTUE002,2026-Q4,12"]
