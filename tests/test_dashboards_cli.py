"""``genomlab dashboards``: the list matches the notebooks; unknown names and a failing Voila
end with an error."""

from __future__ import annotations

import socket
from pathlib import Path

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


def test_dashboards_serve__exits_1_when_voila_fails(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["dashboards", "serve", "ledger_health", "--port", str(port), "--pool-size", "0"],
            env={"GENOMLAB_HOME": str(tmp_path / "home")})
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == (
        f"Error: voila stopped with exit status 1 while serving ledger_health on port {port} "
        "(its log is above)")
