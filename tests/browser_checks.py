"""What a dashboard page in Chromium shows: its tables as frames, its images as pixels."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from PIL import Image

from tests.html_tables import parse_html_tables

MATPLOTLIB_BLUE, MATPLOTLIB_ORANGE = (31, 119, 180), (255, 127, 14)
"""The first two colours of matplotlib's default cycle (the first two lines of a plot)."""


def read_page_table(page: Any, selector: str) -> pd.DataFrame:
    """The table at ``selector`` of a Playwright page, as :func:`parse_html_tables` reads it."""
    [table] = parse_html_tables(page.locator(selector).evaluate("table => table.outerHTML"))
    return table


def count_pixels_of(png: bytes, colour: tuple[int, int, int], *, tolerance: int = 12) -> int:
    """Pixels of a PNG (an element's screenshot) within ``tolerance`` of ``colour`` per channel.

    Examples
    --------
    >>> buffer = io.BytesIO(); Image.new("RGB", (4, 2), (31, 119, 180)).save(buffer, "PNG")
    >>> count_pixels_of(buffer.getvalue(), MATPLOTLIB_BLUE), count_pixels_of(
    ...     buffer.getvalue(), MATPLOTLIB_ORANGE)
    (8, 0)
    """
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for pixel in image.getdata()
               if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)))
