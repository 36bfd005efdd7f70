"""``genomlab dashboards``: the list matches the notebooks; unknown names are refused."""

from __future__ import annotations

from click.testing import CliRunner

from genomlab.cli import main
from genomlab.dashboards.cli import NOTEBOOKS, available_dashboards


def test_dashboards_list__names_existing_notebooks_only() -> None:
    result = CliRunner().invoke(main, ["dashboards", "list"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(available_dashboards())
    assert "ledger_health" in listed
    assert all((NOTEBOOKS / f"{name}.ipynb").is_file() for name in listed)


def test_dashboards_serve__unknown_name_is_one_line_error() -> None:
    result = CliRunner().invoke(main, ["dashboards", "serve", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no dashboard 'nope'; choose from ledger_health")
