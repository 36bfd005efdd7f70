"""Disclosure checks on output files: tables (CSV, TSV, Parquet), figures with their data, others.

A figure is checked through its data: ``plot.png`` needs ``plot.csv`` (or ``.tsv`` / ``.parquet``)
beside it, which is checked like any table; a figure without data needs review. SVG is blocked
(ACRO blocks it: it can carry hidden text and data). Any other file needs a human checker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from genomlab.airlock.checks import CheckResult, Status, check_table, overall_status
from genomlab.config import DisclosureConfig
from genomlab.errors import ValidationFailed

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf")
BLOCKED_SUFFIXES = (".svg",)


@dataclass(frozen=True)
class FileCheck:
    """The checks of one output file and their overall status."""

    path: str
    kind: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return overall_status(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "status": self.status,
                "results": [r.to_dict() for r in self.results]}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_output_table(path: Path) -> pl.DataFrame:
    """A CSV, TSV or Parquet output as a polars table.

    Raises
    ------
    ValidationFailed
        If the file cannot be parsed; the message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("sex,n\\nF,12\\n")
    >>> read_output_table(p).shape
    (1, 2)
    """
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        separator = "\t" if path.suffix == ".tsv" else ","
        return pl.read_csv(path, separator=separator, infer_schema_length=10000)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{path}: cannot be read as a table: {exc}") from exc


def find_figure_data(figure: Path) -> Path | None:
    """The data file beside a figure (same stem, a table suffix), if there is one."""
    return next((figure.with_suffix(s) for s in TABLE_SUFFIXES
                 if figure.with_suffix(s).is_file()), None)


def check_output_file(
    path: Path, disclosure: DisclosureConfig | None = None, *, name: str | None = None
) -> FileCheck:
    """Run the checks that apply to one output file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("sex,n\\nF,12\\nM,3\\n")
    >>> check_output_file(p).status
    'fail'
    """
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return FileCheck(name, "table", check_table(read_output_table(path), disclosure))
    if suffix in BLOCKED_SUFFIXES:
        return FileCheck(name, "blocked", [CheckResult("fail", "file_type", [], [
            f"{name}: {suffix} files are blocked (they can carry hidden text and data); "
            "export PNG or PDF"])])
    if suffix in FIGURE_SUFFIXES:
        data = find_figure_data(path)
        if data is None:
            return FileCheck(name, "figure", [CheckResult("review", "figure_data", [], [
                f"{name}: no data file beside the figure ({path.stem}.csv/.tsv/.parquet); "
                "a checker must judge the picture by eye"])])
        results = check_table(read_output_table(data), disclosure)
        return FileCheck(name, "figure", [
            CheckResult("pass", "figure_data", [], [f"checked through {data.name}"]), *results])
    return FileCheck(name, "other", [CheckResult("review", "file_type", [], [
        f"{name}: {suffix or 'no suffix'} files cannot be checked automatically"])])
