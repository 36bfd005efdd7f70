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
    """Write JSON with sorted keys and a trailing newline (stable bytes).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_json(p, {"b": 1, "a": 2}); p.read_text()
    '{\\n "a": 2,\\n "b": 1\\n}\\n'
    """
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
