"""Stable file output for generated worlds: sorted-key JSON and text, written via a temp file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text to ``path`` (parents created) through a temp file and rename.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a" / "b.txt"
    >>> write_text(p, "x"); p.read_text()
    'x'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON with sorted keys on one line plus a newline (stable bytes, C encoder speed).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_json(p, {"b": 1, "a": 2}); p.read_text()
    '{"a": 2, "b": 1}\\n'
    """
    write_text(path, json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n")
