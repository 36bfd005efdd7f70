"""Listing commands print a table with headers or JSON, through one helper."""

from __future__ import annotations

import doctest
import json

from click.testing import CliRunner

import genomlab.cli_output
import genomlab.home
from genomlab.cli import main


def test_docstring_examples__run() -> None:
    for module in (genomlab.cli_output, genomlab.home):
        failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert tried > 0, module
        assert failures == 0, module


def test_dashboards_list__table_has_headers_and_json_the_same_rows() -> None:
    table = CliRunner().invoke(main, ["dashboards", "list"])
    as_json = CliRunner().invoke(main, ["dashboards", "list", "--format", "json"])
    assert table.exit_code == as_json.exit_code == 0
    header, rule, *lines = table.output.splitlines()
    assert header.split()[:2] == ["Dashboard", "For"]
    assert set(rule.replace(" ", "")) == {"-"}
    rows = json.loads(as_json.output)
    assert [line.split()[0] for line in lines] == [row["name"] for row in rows]
    assert set(rows[0]) == {"name", "audience"}


def test_format_option__refuses_other_formats() -> None:
    result = CliRunner().invoke(main, ["dashboards", "list", "--format", "xml"])
    assert result.exit_code == 2
    assert "'xml' is not one of 'table', 'json'" in result.output
