"""CSV files for people: cells a spreadsheet would run as a formula are escaped.

A register title such as ``=HYPERLINK("http://…","click")`` would become a live formula when a
reader opens the exported CSV in a spreadsheet. Following OWASP's CSV-injection guidance, a text
cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single quote
in front, so the spreadsheet shows it as text. Every CSV genomlab writes for people goes through
this module (the register export, the report tables); machine formats (the register's JSON,
Parquet, pipeline TSVs) keep values exact.

Only text is escaped: numbers genomlab computes (``-3.5``) are not attacker-controlled and stay
numbers.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet evaluate (or mangle) a cell."""


def escape_csv_cell(text: str) -> str:
    """``text`` with a leading single quote when a spreadsheet would run it as a formula.

    Examples
    --------
    >>> escape_csv_cell('=HYPERLINK("http://127.0.0.1/x","click")')
    '\\'=HYPERLINK("http://127.0.0.1/x","click")'
    >>> escape_csv_cell("Penetrance of BRCA1"), escape_csv_cell("")
    ('Penetrance of BRCA1', '')
    """
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def render_people_csv_row(cells: Sequence[object]) -> str:
    """One CSV line (with ``\\n``) of ``cells``; text cells escaped, ``None`` as empty.

    Examples
    --------
    >>> render_people_csv_row(["@SUM(A1)", -3, None, "a,b"])
    '\\'@SUM(A1),-3,,"a,b"\\n'
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [escape_csv_cell(c) if isinstance(c, str) else ("" if c is None else c) for c in cells])
    return buffer.getvalue()


def write_people_csv(path: str | os.PathLike[str], rows: Iterable[Sequence[object]]) -> None:
    """Write ``rows`` (header first) as CSV for people, via a temporary file and a rename."""
    target = os.fspath(path)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.writelines(render_people_csv_row(row) for row in rows)
    os.replace(tmp, target)


def write_frame_csv(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a polars table (a report table) as CSV for people: its text cells escaped.

    Examples
    --------
    >>> import pathlib, tempfile, polars as pl
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> write_frame_csv(pl.DataFrame({"who": ["+49 30", "ann"], "n": [-1, 2]}), path)
    >>> path.read_text().splitlines()
    ['who,n', "'+49 30,-1", 'ann,2']
    """
    write_people_csv(path, [frame.columns, *frame.iter_rows()])
