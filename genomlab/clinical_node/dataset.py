"""What a KDK stores of the official dataset, and reading official dataset paths back.

A validated record's parts (``metaData``, ``case``, ``molecular``, ``plan``, ``followUp``) are
kept as JSON per part (the ``parts`` table of the clinical store), all of them: molecular
findings, plan and follow-up are what a clinical use case needs. Before storing,
:func:`get_stored_parts` applies the node-store unlinkability rule of issue 21 (no field that
a GRZ store or another KDK store holds too, or that names the person, so that node stores
cannot be joined without the trust centre):

- ``metaData`` keeps only ``gender``, ``birthDate`` (month, as the dataset has it),
  ``addressAGS`` (cut to its first 5 digits, the district), ``decisionToInclude``,
  ``rejectionJustification`` and ``submission.diseaseType``. Dropped: the rest of
  ``submission`` (date, type, submitter IK, GRZ and KDK ids: the GRZ keeps them too),
  ``tanC`` and ``localCaseId`` (case numbers), ``mvConsent`` and ``researchConsents`` (exact
  signature dates that the GRZ metadata repeats, and the consent's FHIR patient reference; what
  counts, research consent yes/no, is the ``cases`` column), ``coverageType`` (GRZ has it) and
  ``molecularBoardDecisionDate``.
- every other date (``YYYY-MM-DD`` or ``YYYY-MM``, e.g. diagnosis, board decision, therapy and
  follow-up dates, symptom onset) is coarsened to its year: a month or day beside the GRZ's
  submission date would be a join key.
- codes, variants (``molecular``), recommendations and free-text fields are kept as sent.

Release paths (:func:`get_dataset_values`) name a field of the official dataset with dots, as
``case.diagnosisOd.ecogPerformanceStatusScore`` or ``molecular.smallVariants.gene.code``; a list
on the way is stepped into (every element), so a path can yield several values.

Examples
--------
>>> parts = get_stored_parts({"metaData": {"tanC": "ab", "gender": "female",
...                                        "addressAGS": "08416041"},
...                           "case": {"diagnosisRd": {"symptomOnsetDate": "2019-04"}}})
>>> parts["metaData"], parts["case"]
({'gender': 'female', 'addressAGS': '08416'}, {'diagnosisRd': {'symptomOnsetDate': '2019'}})
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from genomlab.clinical_node.kdk_schema import PARTS, get_kdk_schemas
from genomlab.errors import ValidationFailed

KEPT_METADATA = ("gender", "birthDate", "addressAGS", "decisionToInclude",
                 "rejectionJustification")
"""``metaData`` fields a KDK stores (besides ``submission.diseaseType``); see the module."""
DATE = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])(-[0-9]{2})?$")


def _coarsen_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _coarsen_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_coarsen_dates(v) for v in value]
    if isinstance(value, str) and (m := DATE.match(value)):
        return m.group(1)
    return value


def get_stored_parts(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a validated record as a KDK stores them (see the module docstring)."""
    meta = record.get("metaData") or {}
    kept: dict[str, Any] = {k: meta[k] for k in KEPT_METADATA if k in meta}
    if "addressAGS" in kept:
        kept["addressAGS"] = str(kept["addressAGS"])[:5]
    disease = (meta.get("submission") or {}).get("diseaseType")
    if disease is not None:
        kept["submission"] = {"diseaseType": disease}
    parts = {"metaData": kept}
    parts.update({p: _coarsen_dates(record[p]) for p in PARTS[1:] if p in record})
    return parts


@cache
def get_dataset_paths() -> frozenset[str]:
    """Every field path the official dataset defines (both entry schemas, ``$ref``/``allOf``
    followed), e.g. ``case.diagnosisRd.diagnoses.code``."""
    schemas = get_kdk_schemas()
    paths: set[str] = set()

    def walk(node: Any, file: str, prefix: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 12:
            return
        if "$ref" in node:
            target, _, pointer = node["$ref"].partition("#")
            file = target.rsplit("/KDK/", 1)[-1] if target else file
            found: Any = schemas[file]
            for key in filter(None, pointer.split("/")):
                found = found[key]
            walk(found, file, prefix, depth + 1)
        for sub in node.get("allOf", []):
            walk(sub, file, prefix, depth + 1)
        walk(node.get("items"), file, prefix, depth + 1)
        for name, child in node.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            walk(child, file, path, depth + 1)

    for entry in ("RareDiseases.json", "Oncology.json"):
        walk(schemas[entry], entry, "", 0)
    return frozenset(paths)


def check_dataset_path(path: str) -> None:
    """Refuse a release path the official dataset does not define or a KDK does not store.

    Examples
    --------
    >>> check_dataset_path("case.diagnosisOd.ecogPerformanceStatusScore")
    >>> check_dataset_path("metaData.tanC")
    Traceback (most recent call last):
    ...
    genomlab.errors.ValidationFailed: clinical field 'metaData.tanC': not stored by a KDK (issue 21)
    """
    if path not in get_dataset_paths():
        raise ValidationFailed(f"clinical field {path!r}: not a field of BfArM's KDK dataset")
    first, _, rest = path.partition(".")
    if (first == "metaData" and rest.split(".")[0] not in (*KEPT_METADATA, "submission")) or (
            rest.startswith("submission") and rest not in ("submission",
                                                            "submission.diseaseType")):
        raise ValidationFailed(f"clinical field {path!r}: not stored by a KDK (issue 21)")


def get_dataset_values(parts: dict[str, Any], path: str) -> list[Any]:
    """The values at ``path`` in a record's stored parts, stepping into every list element.

    Examples
    --------
    >>> get_dataset_values({"molecular": {"smallVariants": [{"gene": {"code": "A"}},
    ...                                                     {"gene": {"code": "B"}}]}},
    ...                    "molecular.smallVariants.gene.code")
    ['A', 'B']
    """
    values: list[Any] = [parts]
    for key in path.split("."):
        step: list[Any] = []
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and key in item:
                    step.append(item[key])
        values = step
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def format_dataset_value(values: list[Any]) -> str | None:
    """A released cell: ``None`` if absent, the value if one string, else compact JSON."""
    if not values:
        return None
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    single = values[0] if len(values) == 1 else values
    return json.dumps(single, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def get_dataset_columns(parts: Any, paths: Sequence[str]) -> Any:
    """One row per clinical pseudonym (its record written last), one String column per path.

    Parameters
    ----------
    parts
        A ``parts`` table (polars DataFrame: record_id, clinical_pseudonym, part, json).
    paths
        Official dataset paths, each checked with :func:`check_dataset_path`.

    Returns
    -------
    polars.DataFrame
        ``clinical_pseudonym`` and each path (see :func:`format_dataset_value`).

    Examples
    --------
    >>> import polars as pl
    >>> parts = pl.DataFrame({"record_id": ["r1", "r2"], "clinical_pseudonym": ["K1", "K1"],
    ...                       "part": ["case", "case"],
    ...                       "json": ['{"diagnosisOd": {"grading": "1"}}',
    ...                                '{"diagnosisOd": {"grading": "2"}}']})
    >>> get_dataset_columns(parts, ["case.diagnosisOd.grading"]).rows()
    [('K1', '2')]
    """
    import polars as pl

    for path in paths:
        check_dataset_path(path)
    latest = parts.group_by("clinical_pseudonym", maintain_order=True).agg(
        pl.col("record_id").last())
    by_record: dict[str, dict[str, Any]] = {}
    for record_id, part, text in parts.select("record_id", "part", "json").iter_rows():
        by_record.setdefault(record_id, {})[part] = json.loads(text)
    rows = [{"clinical_pseudonym": pseudonym,
             **{p: format_dataset_value(get_dataset_values(by_record[record_id], p))
                for p in paths}}
            for pseudonym, record_id in latest.iter_rows()]
    return pl.DataFrame(rows, schema={"clinical_pseudonym": pl.String,
                                      **dict.fromkeys(paths, pl.String)})
