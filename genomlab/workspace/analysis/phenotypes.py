"""Phenotypes from released clinical data: case/control by ICD-10-GM prefix or HPO term.

A release's clinical table holds ``sex`` and, as lists per person, ``diagnosis`` (ICD-10-GM
codes) and ``hpo_terms``. A phenotype is named by a spec, as the UK Biobank cohort browser
builds a phenotype file before a GWAS:

- ``ICD10GM:G40``: case (1) if any diagnosis starts with ``G40`` (``G40.3`` within ``G40``),
  control (0) otherwise;
- ``HP:0001250``: case if any HPO term is that term or one of its descendants (in the shipped
  HPO subset, :func:`get_hpo_descendants`), control otherwise;
- a column name: a numeric column as it is (a quantitative trait), e.g. ``quant_trait``.

Bad specs and list columns fail with one line naming the field and what to give instead.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from genomlab.errors import ValidationFailed

ICD_PREFIX = "ICD10GM:"
DIAGNOSIS_COLUMN, HPO_COLUMN = "diagnosis", "hpo_terms"


@cache
def get_hpo_terms() -> dict[str, dict[str, Any]]:
    """The shipped HPO subset (``hpo_subset.json``): term id → ``label``, ``parents``."""
    text = resources.files("genomlab.workspace.analysis").joinpath("hpo_subset.json").read_text()
    return {t["id"]: t for t in json.loads(text)["terms"]}


def get_hpo_descendants(term: str) -> frozenset[str]:
    """``term`` and every term below it (is_a, transitively) in the shipped subset.

    Examples
    --------
    >>> sorted(get_hpo_descendants("HP:0002197"))
    ['HP:0002121', 'HP:0002197']
    >>> "HP:0001250" in get_hpo_descendants("HP:0012638")
    True
    """
    terms = get_hpo_terms()
    if term not in terms:
        raise ValidationFailed(f"phenotype {term!r}: not in genomlab's HPO subset "
                               f"(hpo_subset.json, {len(terms)} terms)")
    found, frontier = {term}, [term]
    while frontier:
        parent = frontier.pop()
        for child, info in terms.items():
            if parent in info["parents"] and child not in found:
                found.add(child)
                frontier.append(child)
    return frozenset(found)


def _list_column(info: pd.DataFrame, column: str, spec: str) -> pd.Series:
    if column not in info.columns:
        raise ValidationFailed(f"phenotype {spec!r}: the released clinical data have no "
                               f"{column!r} field")
    return info[column].map(lambda v: None if v is None or (np.isscalar(v) and pd.isna(v))
                            else [str(x) for x in v])


def _is_list_column(values: pd.Series) -> bool:
    return bool(values.map(lambda v: isinstance(v, list | tuple | np.ndarray)).any())


def describe_phenotype(spec: str) -> str:
    """The phenotype in words.

    Examples
    --------
    >>> describe_phenotype("ICD10GM:G40"), describe_phenotype("HP:0001250")
    ('diagnosis ICD-10-GM G40*', 'HPO HP:0001250 Seizure (and descendants)')
    """
    if spec.startswith(ICD_PREFIX):
        return f"diagnosis ICD-10-GM {spec.removeprefix(ICD_PREFIX)}*"
    if spec.startswith("HP:"):
        label = get_hpo_terms().get(spec, {}).get("label", "")
        return f"HPO {spec} {label} (and descendants)"
    return f"field {spec}"


def get_phenotype_values(info: pd.DataFrame, spec: str) -> pd.Series:
    """Per sample: 1.0/0.0 (case/control) for an ICD-10-GM or HPO spec, the numbers of a
    numeric column; named ``spec``.

    Examples
    --------
    S4 has no clinical record: neither case nor control.

    >>> info = pd.DataFrame({"diagnosis": [["G40.3"], ["Q87.1"], [], None],
    ...                      "hpo_terms": [["HP:0002069"], [], ["HP:0001252"], None]},
    ...                     index=["S1", "S2", "S3", "S4"])
    >>> get_phenotype_values(info, "ICD10GM:G40").tolist()
    [1.0, 0.0, 0.0, nan]
    >>> get_phenotype_values(info, "HP:0001250").tolist()
    [1.0, 0.0, 0.0, nan]
    >>> get_phenotype_values(info, "diagnosis")
    Traceback (most recent call last):
    ...
    genomlab.errors.ValidationFailed: phenotype 'diagnosis': the field holds lists of codes; ...
    """
    if spec.startswith(ICD_PREFIX):
        prefix = spec.removeprefix(ICD_PREFIX).strip().upper()
        if not prefix or not prefix[0].isalpha():
            raise ValidationFailed(f"phenotype {spec!r}: give an ICD-10-GM code or prefix, "
                                   "e.g. 'ICD10GM:G40'")
        codes = _list_column(info, DIAGNOSIS_COLUMN, spec)
        is_case = codes.map(lambda cs: None if cs is None else
                            any(c.upper().startswith(prefix) for c in cs))
    elif spec.startswith("HP:"):
        wanted = get_hpo_descendants(spec)
        terms = _list_column(info, HPO_COLUMN, spec)
        is_case = terms.map(lambda ts: None if ts is None else any(t in wanted for t in ts))
    else:
        if spec not in info.columns:
            known = ", ".join(str(c) for c in info.columns)
            raise ValidationFailed(f"phenotype {spec!r}: no such field (released: {known}); "
                                   "or give 'ICD10GM:<prefix>' or an HPO term 'HP:<id>'")
        values = info[spec]
        if _is_list_column(values):
            example = ("'ICD10GM:<prefix>' (e.g. 'ICD10GM:G40')" if spec == DIAGNOSIS_COLUMN
                       else "an HPO term (e.g. 'HP:0001250')")
            raise ValidationFailed(f"phenotype {spec!r}: the field holds lists of codes; "
                                   f"give {example} for case/control")
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == 0:
            raise ValidationFailed(f"phenotype {spec!r}: the field is not numeric")
        return numbers.astype(float).rename(spec)
    return is_case.astype(float).rename(spec)  # NaN: no clinical record, not a control


def add_phenotype(info: pd.DataFrame, spec: str) -> pd.DataFrame:
    """``info`` with a column ``spec`` holding :func:`get_phenotype_values`."""
    values = get_phenotype_values(info, spec)
    out = info.copy()
    out[spec] = values
    return out
