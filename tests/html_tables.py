"""HTML tables (notebook outputs, dashboard pages) read into frames: tests compare whole cells."""

from __future__ import annotations

import pandas as pd
from bs4 import BeautifulSoup


def parse_html_tables(html: str) -> list[pd.DataFrame]:
    """The ``<table>``s of an HTML text as string-valued frames (first header row → columns).

    Body rows are those of ``<tbody>`` (so polars' dtype row in ``<thead>`` is left out); a
    pandas table's index (``<th>`` at the start of a body row) is dropped. Cell texts are kept
    as shown (polars quotes strings: ``"GRZK00001"``).

    Examples
    --------
    >>> parse_html_tables("<table><thead><tr><th></th><th>a</th></tr></thead>"
    ...                   "<tbody><tr><th>0</th><td>12</td></tr></tbody></table>")[0]["a"].tolist()
    ['12']
    """
    tables = []
    for table in BeautifulSoup(html, "html.parser").find_all("table"):
        rows = table.find_all("tr")
        if not rows:
            continue
        header = [cell.get_text(strip=True) for cell in rows[0].find_all(["th", "td"])]
        body_rows = table.tbody.find_all("tr") if table.tbody else rows[1:]
        body = [[cell.get_text(strip=True) for cell in row.find_all("td")] for row in body_rows]
        width = max((len(row) for row in body), default=len(header))
        tables.append(pd.DataFrame(body, columns=header[len(header) - width:]))
    return tables
