"""genomlab imports jsonschema without its IRI checker (:mod:`genomlab._jsonschema`), and no
schema it validates against needs that checker."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from typing import Any

import yaml  # type: ignore[import-untyped]

from genomlab._jsonschema import Draft202012Validator
from genomlab.beacon_schemas import FRAMEWORK

STANDARD_FORMATS = {
    "date-time", "date", "time", "duration", "email", "idn-email", "hostname", "idn-hostname",
    "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uuid", "uri-template",
    "json-pointer", "relative-json-pointer", "regex",
}
"""The formats JSON Schema 2020-12 defines (Validation, section 7.3); others (the Beacon
framework's ``int`` and ``iso``) are annotations no validator checks."""


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for value in node.values():
            yield from _formats(value)
    elif isinstance(node, list):
        for value in node:
            yield from _formats(value)


def _shipped_schemas() -> Iterator[Any]:
    kdk = resources.files("genomlab.clinical_node") / "kdk_spec"
    for folder in (kdk, kdk / "data-types"):
        for entry in folder.iterdir():
            if entry.name.endswith(".json"):
                yield json.loads(entry.read_text(encoding="utf-8"))
    for path in FRAMEWORK.rglob("*.yaml"):
        yield yaml.safe_load(path.read_text(encoding="utf-8"))


def test_jsonschema_import__validators_load_without_rfc3987_syntax() -> None:
    code = ("import sys; import genomlab.clinical_node.kdk_schema, genomlab.beacon_schemas; "
            "print('rfc3987_syntax' in sys.modules); import rfc3987_syntax; print('importable')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "importable"]  # masked for jsonschema only, not for the process


def test_jsonschema_import__every_standard_format_of_the_shipped_schemas_is_checked() -> None:
    used = {f for schema in _shipped_schemas() for f in _formats(schema)}
    assert {"date", "uri", "date-time"} <= used  # the walk found the schemas' formats
    checked = set(Draft202012Validator.FORMAT_CHECKER.checkers)
    assert sorted((used & STANDARD_FORMATS) - checked) == []
