"""What a report's tables count, how they are shown, and the banner of a published report.

Disclosure control protects **people**: a count of persons below the minimum cell count could
single someone out. A count of applications, ledger events or data nodes says nothing about a
person and is published as it is. A report therefore declares, per count column, what it counts
(:data:`COUNTED_UNITS`): :func:`write_report_table` writes the table (``tables/<name>.csv``) and
its declaration (``tables/<name>.counts.json``, published beside it), and the report runner applies
the minimum-cell, zero and group-size rules only to the columns declared ``people`` (a count
column without a declaration is treated as counting people: the safe default).

A report notebook calls :func:`show_report_header` (title and period), :func:`show_table`
(headers in words, thousands separators, counts right-aligned) and :func:`use_integer_ticks` on
count axes; the runner adds the status banner (:func:`render_status_banner`) to the HTML.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from genomlab.errors import ValidationFailed

CountedUnit = Literal["people", "applications", "events", "nodes", "requests", "reviews",
                      "institutions", "variants"]
COUNTED_UNITS: tuple[str, ...] = ("people", "applications", "events", "nodes", "requests",
                                  "reviews", "institutions", "variants")
"""What a count column may count; only ``people`` is subject to disclosure control."""

DECLARATION_SUFFIX = ".counts.json"
META_FILE = "report_meta.json"


def get_declaration_path(table: Path) -> Path:
    """``tables/x.csv`` → ``tables/x.counts.json``.

    Examples
    --------
    >>> get_declaration_path(Path("tables/by_month.csv")).name
    'by_month.counts.json'
    """
    return table.with_name(table.stem + DECLARATION_SUFFIX)


def get_count_columns(frame: pl.DataFrame) -> tuple[str, ...]:
    """Columns the disclosure checks read as counts of people unless declared otherwise.

    Examples
    --------
    >>> get_count_columns(pl.DataFrame({"month": ["2026-01"], "n_events": [3], "status": ["ok"]}))
    ('n_events',)
    """
    from genomlab.airlock.checks import get_column_roles

    return get_column_roles(frame).person_counts


def write_report_table(frame: pl.DataFrame, tables_dir: Path, name: str,
                       counts: Mapping[str, str]) -> Path:
    """Write ``frame`` as ``<tables_dir>/<name>.csv`` with the declaration of what it counts.

    ``counts`` names, for every count column, what it counts (one of :data:`COUNTED_UNITS`).

    Raises
    ------
    ValidationFailed
        A count column is not declared, a declared column does not exist, or a unit is unknown
        (one line naming the table and the column).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> t = pl.DataFrame({"month": ["2026-01"], "n_events": [3]})
    >>> write_report_table(t, d, "activity", {"n_events": "events"}).name
    'activity.csv'
    >>> read_count_declaration(d / "activity.csv")
    {'n_events': 'events'}
    >>> write_report_table(t, d, "activity", {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    genomlab.errors.ValidationFailed: activity.csv: column n_events: say what it counts ...
    """
    from genomlab.people_csv import write_frame_csv

    path = tables_dir / f"{name}.csv"
    for column, unit in counts.items():
        if column not in frame.columns:
            raise ValidationFailed(f"{path.name}: column {column}: declared but not in the table")
        if unit not in COUNTED_UNITS:
            raise ValidationFailed(f"{path.name}: column {column}: unknown unit {unit!r} "
                                   f"(one of {', '.join(COUNTED_UNITS)})")
    for column in get_count_columns(frame):
        if column not in counts:
            raise ValidationFailed(f"{path.name}: column {column}: say what it counts "
                                   f"(one of {', '.join(COUNTED_UNITS)})")
    tables_dir.mkdir(parents=True, exist_ok=True)
    write_frame_csv(frame, path)
    get_declaration_path(path).write_text(json.dumps(dict(counts), sort_keys=True) + "\n",
                                          encoding="utf-8")
    return path


def read_count_declaration(table: Path) -> dict[str, str]:
    """The declaration written beside ``table``; ``{}`` when there is none.

    Raises
    ------
    ValidationFailed
        The declaration is not a JSON object of known units (names the file and column).
    """
    path = get_declaration_path(table)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailed(f"{path}: expected an object column -> unit")
    for column, unit in data.items():
        if unit not in COUNTED_UNITS:
            raise ValidationFailed(f"{path}: column {column}: unknown unit {unit!r}")
    return {str(k): str(v) for k, v in data.items()}


def get_disclosure_roles(frame: pl.DataFrame, declared: Mapping[str, str]) -> Any:
    """The column roles for the disclosure checks: columns declared as counting something other
    than people are aggregate values that no minimum cell count applies to (the checks' role
    ``statistics``: the table is still an aggregate, not row-level data); columns declared
    ``people`` are counts.

    Examples
    --------
    >>> t = pl.DataFrame({"status": ["approved"], "n_applications": [2], "n_persons": [4]})
    >>> roles = get_disclosure_roles(t, {"n_applications": "applications", "n_persons": "people"})
    >>> roles.person_counts, roles.statistics
    (('n_persons',), ('n_applications',))
    """
    from genomlab.airlock.checks import get_column_roles

    roles = get_column_roles(frame)
    not_people = {c for c, unit in declared.items() if unit != "people"}
    people = tuple(c for c, unit in declared.items() if unit == "people")

    def keep(columns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c for c in columns if c not in not_people)

    counts = keep(roles.counts) + tuple(c for c in people if c not in roles.person_counts)
    return replace(roles, counts=counts, carriers=keep(roles.carriers),
                   group_sizes=keep(roles.group_sizes),
                   statistics=keep(roles.statistics) + tuple(sorted(not_people)))


def suppress_person_counts(frame: pl.DataFrame, columns: tuple[str, ...] | list[str], *,
                           threshold: int = 10) -> pl.DataFrame:
    """Counts of people from 1 to ``threshold - 1`` replaced by ``"<threshold"`` (text column);
    zeros and larger counts stay. The threshold is ``config.disclosure.min_cell_count`` (ACRO's
    default 10).

    Examples
    --------
    >>> t = pl.DataFrame({"node": ["A", "B", "C"], "n_cases": [3, 0, 25]})
    >>> suppress_person_counts(t, ["n_cases"])["n_cases"].to_list()
    ['<10', '0', '25']
    """
    return frame.with_columns([
        pl.when(pl.col(c).is_between(1, threshold - 1)).then(pl.lit(f"<{threshold}"))
        .otherwise(pl.col(c).cast(pl.String)).alias(c) for c in columns])


def format_count(value: Any) -> str:
    """An integer count with thousands separators; suppressed markers and text unchanged.

    Examples
    --------
    >>> format_count(12345), format_count(3.0), format_count("<10"), format_count(None)
    ('12,345', '3', '<10', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def render_table_html(frame: pl.DataFrame, headers: Mapping[str, str] | None = None,
                      counts: Mapping[str, str] | None = None) -> str:
    """``frame`` as an escaped HTML table: headers in words (``headers``), counts right-aligned
    with thousands separators, and what each count column counts under its header.

    Examples
    --------
    >>> t = pl.DataFrame({"month": ["2026-01"], "n_events": [1234]})
    >>> h = render_table_html(t, {"n_events": "Events"}, {"n_events": "events"})
    >>> "<th scope=\\"col\\" class=\\"count\\">Events<br><small>count of events</small></th>" in h
    True
    >>> '<td class="count">1,234</td>' in h
    True
    """
    headers, counts = dict(headers or {}), dict(counts or {})
    numeric = {c for c, dtype in frame.schema.items() if dtype.is_numeric()} | set(counts)
    head = []
    for column in frame.columns:
        label = html.escape(headers.get(column, column.replace("_", " ")))
        unit = (f"<br><small>count of {html.escape(counts[column])}</small>"
                if column in counts else "")
        css = ' class="count"' if column in numeric else ""
        head.append(f'<th scope="col"{css}>{label}{unit}</th>')
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column in frame.columns:
            if column in numeric:
                cells.append(f'<td class="count">{html.escape(format_count(row[column]))}</td>')
            else:
                value = row[column]
                cells.append(f"<td>{html.escape('' if value is None else str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{max(frame.width, 1)}">no rows</td></tr>')
    return ("<style>.genomlab-report-table td, .genomlab-report-table th {text-align: left}"
            ".genomlab-report-table td.count, .genomlab-report-table th.count "
            "{text-align: right}</style>"
            '<table class="genomlab-report-table">'
            f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def show_table(frame: pl.DataFrame, headers: Mapping[str, str] | None = None,
               counts: Mapping[str, str] | None = None) -> None:
    """Display :func:`render_table_html` in a notebook."""
    from IPython.display import HTML, display

    display(HTML(render_table_html(frame, headers, counts)))


def write_report_meta(output_dir: Path, *, title: str, period: str) -> None:
    """Record the report's title and period for the runner's banner (``report_meta.json``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / META_FILE).write_text(
        json.dumps({"title": title, "period": period}, ensure_ascii=False) + "\n",
        encoding="utf-8")


def read_report_meta(output_dir: Path) -> dict[str, str]:
    """Title and period a report recorded; ``{}`` when it recorded none."""
    path = output_dir / META_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: str(v) for k, v in data.items() if k in ("title", "period")}


def show_report_header(output_dir: Path, *, title: str, period: str, description: str) -> None:
    """Show the title, period and description, and record them for the runner's banner."""
    from IPython.display import HTML, display

    write_report_meta(output_dir, title=title, period=period)
    display(HTML(f"<h1>{html.escape(title)}</h1>"
                 f'<p class="genomlab-report-period"><b>Period:</b> {html.escape(period)}</p>'
                 f"<p>{html.escape(description)}</p>"))


def use_integer_ticks(ax: Any, axis: Literal["x", "y"] = "y") -> None:
    """Only whole numbers on a count axis (no 2.5 events)."""
    from matplotlib.ticker import MaxNLocator

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))


STATUS_TEXT = {
    "published": "Published: every count of people passed the disclosure checks",
    "withheld": "Withheld: a count of people did not pass the disclosure checks",
    "succeeded": "Internal report: not for publication",
    "failed": "Failed: the report did not run to the end",
}


def render_status_banner(*, status: str, title: str, period: str, slot: datetime,
                         run_at: datetime, min_cell_count: int,
                         declared: Mapping[str, str]) -> str:
    """The banner the runner puts at the top of a report's HTML.

    Examples
    --------
    >>> from datetime import UTC
    >>> t = datetime(2026, 12, 1, 6, tzinfo=UTC)
    >>> b = render_status_banner(status="published", title="Platform activity",
    ...     period="2026-01 to 2026-11", slot=t, run_at=t, min_cell_count=10,
    ...     declared={"n_events": "events"})
    >>> "status-published" in b and "2026-12-01 06:00 UTC" in b
    True
    """
    units = sorted(set(declared.values()))
    not_people = [u for u in units if u != "people"]
    note = f"Counts of people below {min_cell_count} are never published."
    if not_people:
        note += (f" Counts of {', '.join(not_people)} describe no person and are "
                 "published as they are.")
    return (
        f'<header class="genomlab-report-banner status-{html.escape(status)}" '
        'style="border:1px solid #888;padding:6px 10px;margin-bottom:10px;'
        'font-family:sans-serif">'
        f'<p class="genomlab-report-title"><b>{html.escape(title)}</b></p>'
        f"<p><b>Period:</b> {html.escape(period)} · <b>Scheduled:</b> "
        f"{slot:%Y-%m-%d %H:%M} UTC · <b>Run:</b> {run_at:%Y-%m-%d %H:%M} UTC</p>"
        f'<p class="genomlab-report-status"><b>{html.escape(STATUS_TEXT.get(status, status))}'
        f"</b>. {html.escape(note)}</p></header>")


def insert_banner(html_text: str, banner: str) -> str:
    """``html_text`` with ``banner`` as the first thing in its body.

    Examples
    --------
    >>> insert_banner("<html><body class='x'><p>a</p></body></html>", "<header/>")
    "<html><body class='x'><header/><p>a</p></body></html>"
    """
    start = html_text.find("<body")
    if start < 0:
        return banner + html_text
    end = html_text.index(">", start) + 1
    return html_text[:end] + banner + html_text[end:]
