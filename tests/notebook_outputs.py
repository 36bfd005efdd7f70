"""What an executed notebook shows: its cells' outputs, parsed into whole values.

Tests read what papermill's kernel *displayed* (tables, printed lines, images), never the
notebook's source, so a check fails when a cell stops producing what it should.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from tests.html_tables import parse_html_tables


def read_outputs(path: Path) -> list[dict[str, Any]]:
    """Every output of every code cell of an executed notebook, in order."""
    notebook = nbformat.read(path, as_version=4)
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])]


def get_output_tables(path: Path) -> list[pd.DataFrame]:
    """The HTML tables the executed notebook displayed, in output order."""
    return [table for output in read_outputs(path)
            for table in parse_html_tables(str(output.get("data", {}).get("text/html", "")))]


def get_printed_lines(path: Path) -> list[str]:
    """The lines the executed notebook printed (stdout streams)."""
    return [line for output in read_outputs(path)
            if output["output_type"] == "stream" and output.get("name") == "stdout"
            for line in output["text"].splitlines()]


def get_png_outputs(path: Path) -> list[bytes]:
    """The PNG images the executed notebook displayed, decoded."""
    return [base64.b64decode(output["data"]["image/png"]) for output in read_outputs(path)
            if "image/png" in output.get("data", {})]
