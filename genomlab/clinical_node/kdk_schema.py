"""BfArM's KDK JSON schemas (the official clinical dataset) and validation against them.

The schemas are shipped unchanged in ``genomlab/clinical_node/kdk_spec/`` (see ``SOURCE.md``
there: BfArM-MVH/MVGenomseq_KDK, commit fd1ba42, dataset version 1.6.6). They reference each
other by their GitHub URLs; :func:`get_kdk_registry` serves those URLs from the shipped files
(nothing is fetched). Validation uses JSON Schema draft 2020-12, as the schemas declare, with
format checking on (``format: date`` is checked).

A submission is ``RareDiseases.json`` (``metaData.submission.diseaseType`` ``rare``) or
``Oncology.json`` (``oncological``, ``hereditary``): ``metaData`` (Submission.json), ``case``,
and optionally ``molecular``, ``plan`` and ``followUp``.

Examples
--------
>>> errors = get_kdk_errors({"metaData": {}}, disease_type="rare")
>>> errors[0].field, errors[0].schema_path, errors[0].message
('record', 'RareDiseases.json#/required', "'case' is a required property")
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urljoin

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from genomlab._jsonschema import Draft202012Validator, ValidationError, relevance

SPEC_VERSION = "1.6.6"
"""The dataset version of the shipped copy (top of its ``CHANGELOG.md``)."""
BASE_URI = "https://raw.githubusercontent.com/BfArM-MVH/MVGenomseq_KDK/main/KDK/"
ENTRY_SCHEMAS = {"rare": "RareDiseases.json", "oncological": "Oncology.json",
                 "hereditary": "Oncology.json"}
"""Entry schema per ``metaData.submission.diseaseType`` (Submission.json's description)."""
PARTS = ("metaData", "case", "molecular", "plan", "followUp")
"""The parts an entry schema composes."""
CODE_SYSTEMS = {
    "ICD-10-GM": {"system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm", "version": "2025"},
    "ICD-O-3": {"system": "urn:oid:2.16.840.1.113883.6.43.1", "version": "3.2"},
    "HPO": {"system": "http://human-phenotype-ontology.org", "version": "2025-05-06"},
    "ORPHA": {"system": "http://www.orpha.net", "version": "4.5"},
    "Alpha-ID": {"system": "http://fhir.de/CodeSystem/bfarm/alpha-id", "version": "2025"},
    "ATC": {"system": "http://fhir.de/CodeSystem/bfarm/atc", "version": "2025"},
}
"""The code systems (FHIR system URI and version) of the ``Coding`` values genomlab writes and
reads (the schemas only require a URI)."""


@dataclass(frozen=True)
class SchemaError:
    """One failure: the JSON path of the field (``case.diagnosisRd.diagnoses[0]``; ``record``
    for the whole record), the schema file and JSON pointer of the failing keyword, a message."""

    field: str
    schema_path: str
    message: str


def _spec_files() -> Iterator[tuple[str, Any]]:
    root = resources.files("genomlab.clinical_node") / "kdk_spec"
    for folder, prefix in ((root, ""), (root / "data-types", "data-types/")):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                yield prefix + entry.name, json.loads(entry.read_text(encoding="utf-8"))


@cache
def get_kdk_schemas() -> dict[str, Any]:
    """The shipped schemas by file name relative to ``KDK/`` (``data-types/Coding.json``)."""
    return dict(_spec_files())


@cache
def get_kdk_registry() -> Registry[Any]:
    """A registry serving every shipped schema under its upstream URL.

    Registered under ``BASE_URI + file name`` rather than the file's ``$id``: upstream
    RareDiseases.json declares ``hhttps://…`` (a typo); the others equal that URL.
    """
    return Registry().with_resources(
        (BASE_URI + name, Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in get_kdk_schemas().items())


@cache
def _get_validator(entry: str) -> Draft202012Validator:
    schema = dict(get_kdk_schemas()[entry], **{"$id": BASE_URI + entry})
    return Draft202012Validator(schema, registry=get_kdk_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def get_entry_schema(record: Any, *, disease_type: str | None = None) -> str:
    """The entry schema a record is validated against: by ``disease_type`` if given, else by
    its ``metaData.submission.diseaseType``, else by its case (``diagnosisRd``: rare)."""
    if disease_type is None and isinstance(record, dict):
        meta = record.get("metaData")
        submission = meta.get("submission") if isinstance(meta, dict) else None
        disease_type = submission.get("diseaseType") if isinstance(submission, dict) else None
    if disease_type in ENTRY_SCHEMAS:
        return ENTRY_SCHEMAS[str(disease_type)]
    case = record.get("case") if isinstance(record, dict) else None
    return ENTRY_SCHEMAS["rare" if isinstance(case, dict) and "diagnosisRd" in case
                         else "oncological"]


def format_json_path(path: Any) -> str:
    """``case.diagnosisRd.diagnoses[0].code`` from a path of keys and indexes (``record`` if
    empty).

    Examples
    --------
    >>> format_json_path(["case", "diagnosisRd", "diagnoses", 0, "code"])
    'case.diagnosisRd.diagnoses[0].code'
    """
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "record"


def get_schema_location(entry: str, schema_path: Any) -> str:
    """``File.json#/json/pointer`` of the keyword at ``schema_path`` (keywords from the entry
    schema), following each ``$ref`` into the file it names.

    Examples
    --------
    >>> get_schema_location("RareDiseases.json", ["properties", "case", "required"])
    'RareDiseasesCase.json#/required'
    """
    resolver = get_kdk_registry().resolver(base_uri=BASE_URI + entry)
    node: Any = get_kdk_schemas()[entry]
    uri, pointer = BASE_URI + entry, ""
    for key in schema_path:
        while isinstance(node, dict) and "$ref" in node and (key == "$ref" or key not in node):
            ref = node["$ref"]  # jsonschema leaves a followed $ref out of the path
            resolved = resolver.lookup(ref)
            resolver, node = resolved.resolver, resolved.contents
            target, _, fragment = ref.partition("#")
            uri = urljoin(uri, target) if target else uri
            pointer = fragment
        if key == "$ref":
            continue
        node = node[key] if isinstance(node, dict) else node[int(key)]
        pointer += f"/{key}"
    name = uri.removeprefix(BASE_URI).removeprefix("h" + BASE_URI)
    return f"{name}#{pointer}"


def _leaf_errors(error: ValidationError) -> Iterator[ValidationError]:
    """The innermost failures of ``allOf``/``anyOf`` branches (what actually failed)."""
    if error.context:
        for child in error.context:
            yield from _leaf_errors(child)
    else:
        yield error


def get_kdk_errors(record: Any, *, disease_type: str | None = None) -> list[SchemaError]:
    """Every failure of ``record`` against BfArM's entry schema, most relevant first.

    ``disease_type`` picks the entry schema (see :func:`get_entry_schema`).
    """
    entry = get_entry_schema(record, disease_type=disease_type)
    errors = sorted((leaf for error in _get_validator(entry).iter_errors(record)
                     for leaf in _leaf_errors(error)),
                    key=lambda e: (bool(e.absolute_path), format_json_path(e.absolute_path),
                                   relevance(e)))
    found = [SchemaError(format_json_path(e.absolute_path),
                         get_schema_location(entry, e.absolute_schema_path),
                         _get_message(e)) for e in errors]
    return list(dict.fromkeys(found))  # a $ref reached twice reports the same failure twice


def _get_message(error: ValidationError) -> str:
    """The error's message; for a list of too few items, the count rather than the list."""
    if error.validator == "minItems" and isinstance(error.instance, list):
        return f"{len(error.instance)} item(s), at least {error.validator_value} required"
    return _shorten(error.message)


def _shorten(message: str, *, limit: int = 160) -> str:
    """One line of at most ``limit`` characters (a failing value may be a whole object)."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
