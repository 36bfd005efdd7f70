"""How every listing command prints: a table with headers, or JSON for scripts.

Every command that lists records (``... list``, ``... status``, ``... queue``, ``... history``,
``register show``, ``ledger show``) takes ``--format table|json`` (:func:`format_option`) and
prints through :func:`echo_rows`, so no command invents its own layout:

- ``table`` (default): a header line, a rule, one aligned line per record, then an optional
  footer (``3 submissions``);
- ``json``: one JSON array of objects with the same columns (keys are the column keys), nothing
  else on stdout, so ``genomlab grz status --node GRZK00001 --format json | jq`` works.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import click

FORMAT_OPTION = "--format"
"""The one spelling of the output-format option of listing commands."""
FORMATS = ("table", "json")

OutputFormat = Literal["table", "json"]
CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])


def format_option() -> Callable[[CommandFunction], CommandFunction]:
    """``--format table|json``, passed as ``output_format`` (default ``table``)."""
    return click.option(
        FORMAT_OPTION, "output_format", type=click.Choice(FORMATS), default="table",
        show_default=True,
        help="table: aligned columns under headers; json: an array of objects (for scripts).")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
                output_format: OutputFormat) -> str:
    """``rows`` as a table under ``columns`` (``(key, header)``) or as a JSON array.

    Examples
    --------
    >>> rows = [{"node_id": "GRZK00001", "status": "approved"}, {"node_id": "KDKTUE005",
    ...          "status": None}]
    >>> print(render_rows(rows, [("node_id", "Node"), ("status", "Status")], "table"))
    Node       Status
    ---------  --------
    GRZK00001  approved
    KDKTUE005  -
    >>> render_rows(rows[:1], [("node_id", "Node")], "json")
    '[{"node_id": "GRZK00001"}]'
    """
    if output_format == "json":
        return json.dumps([{key: row.get(key) for key, _ in columns} for row in rows],
                          ensure_ascii=False, default=str)
    table = [[header for _, header in columns]]
    table += [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    table.insert(1, ["-" * w for w in widths])
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in table)


def echo_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
              output_format: OutputFormat, *, footer: str | None = None) -> None:
    """Print :func:`render_rows`; the ``footer`` (a count) only under a table."""
    click.echo(render_rows(rows, columns, output_format))
    if footer is not None and output_format == "table":
        click.echo(footer)
