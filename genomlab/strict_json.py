"""Reading a JSON document that a sender hands in (a GRZ's ``metadata.json``, a KDK record).

:func:`load_strict_json` refuses, with one line naming the problem, what :func:`json.loads`
lets through or turns into a traceback: bytes that are not UTF-8, a duplicate key in an object
(two ``tanG`` values, of which a reader would silently keep the last), nesting deeper than
:data:`MAX_DEPTH` (which overflows the parser's stack) and text that is not JSON.

Examples
--------
>>> load_strict_json(b'{"a": [1, {"b": 2}]}')
{'a': [1, {'b': 2}]}
>>> load_strict_json(b'{"submission": {"tanG": "a", "tanG": "b"}}')
Traceback (most recent call last):
...
genomlab.strict_json.JsonRefused: field submission.tanG: duplicate key 'tanG'
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""How deep objects and lists may nest (BfArM's metadata needs fewer than ten levels)."""


class JsonRefused(ValueError):
    """A JSON document that is refused; ``field`` is the key it is about, or ``document``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"field {field}: {message}")


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers its first duplicate key."""

    duplicate: str | None = None


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> _Object:
    found = _Object()
    for key, value in pairs:
        if key in found and found.duplicate is None:
            found.duplicate = key
        found[key] = value
    return found


def find_duplicate_key(value: Any, path: str = "") -> str | None:
    """The path (``donors[0].labData``) of the first duplicate key in a parsed document."""
    if isinstance(value, _Object) and value.duplicate is not None:
        return f"{path}.{value.duplicate}" if path else value.duplicate
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        inner = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
        found = find_duplicate_key(item, inner)
        if found is not None:
            return found
    return None


def get_nesting_depth(text: str) -> int:
    """How deep ``[``/``{`` nest in JSON text, brackets inside strings not counted.

    Examples
    --------
    >>> get_nesting_depth('{"a": [[1], "]]]["]}')
    3
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_strict_json(data: bytes) -> Any:
    """The JSON document in ``data`` (UTF-8); :class:`JsonRefused` if it is refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused("document", f"not UTF-8 (byte {exc.start})") from exc
    depth = get_nesting_depth(text)
    if depth > MAX_DEPTH:
        raise JsonRefused("document", f"nested {depth} levels deep, more than {MAX_DEPTH}")
    try:
        document = json.loads(text, object_pairs_hook=_keep_duplicates)
    except (ValueError, RecursionError) as exc:
        raise JsonRefused("document", f"not JSON: {exc}") from exc
    duplicate = find_duplicate_key(document)
    if duplicate is not None:
        raise JsonRefused(duplicate, f"duplicate key {duplicate.rsplit('.', 1)[-1]!r}")
    return document
