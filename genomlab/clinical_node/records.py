"""Validation of a clinical record of BfArM's KDK dataset (Oncology.json / RareDiseases.json).

First against BfArM's JSON schemas (:mod:`.kdk_schema`: every part, case, molecular findings,
plan and follow-up), then what the schemas leave open: the code formats (ICD-10-GM, ICD-O-3 M
and T, HPO, ORPHA, Alpha-ID), ids (IK, KDK, GRZ, tanC), dates in order and the consents
(model-project consent and MII research consent, evaluated with grz-pydantic-models' consent
models). Every refusal is a :class:`RecordRejected` naming the file, the record and the field
(``metaData.submission.date``, ``case.diagnosisRd.diagnoses[1].code``, …), and for a schema
failure the schema file and JSON pointer of the failing keyword.

Only what the clinical store keeps is returned (:class:`ClinicalRecord`): the derived columns
and the parts of the official dataset as :func:`.dataset.get_stored_parts` keeps them (identity
and linking fields dropped, exact dates coarsened).

Examples
--------
>>> import json, pathlib
>>> path = sorted(pathlib.Path("data_samples/world/kdk/KDKK00001/records").glob("*.json"))[0]
>>> record = validate_clinical_record(json.loads(path.read_text()), source=path.name)
>>> record.node_id, len(record.tan_c)
('KDKK00001', 64)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from genomlab.clinical_node.dataset import get_stored_parts
from genomlab.clinical_node.kdk_schema import CODE_SYSTEMS, get_kdk_errors
from genomlab.errors import ValidationFailed

ICD10GM = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?[+*!†]?$")
ICDO3_M = re.compile(r"^[89][0-9]{3}/[0-9]$")
ICDO3_T = re.compile(r"^C[0-9]{2}(\.[0-9])?$")
HPO = re.compile(r"^HP:[0-9]{7}$")
ALPHA_ID = re.compile(r"^I[0-9]{4,6}$")
TAN = re.compile(r"^[A-Fa-f0-9]{64}$")
IK = re.compile(r"^[0-9]{9}$")
KDK_ID = re.compile(r"^KDK[A-Z0-9]{3}[0-9]{3}$")
GRZ_ID = re.compile(r"^GRZ[A-Z0-9]{3}[0-9]{3}$")



class RecordRejected(ValidationFailed):
    """A clinical record failed validation; ``field`` is the path of the bad field."""

    def __init__(self, source: str, field_path: str, message: str) -> None:
        self.source = source
        self.field = field_path
        self.detail = message
        super().__init__(f"{source}: field {field_path}: {message}")


@dataclass(frozen=True)
class ClinicalRecord:
    """What the clinical node keeps of a record (no identity fields)."""

    tan_c: str
    node_id: str
    submitter_id: str
    submission_date: str
    submission_type: str
    disease_type: str
    coverage_type: str
    library_type: str
    gender: str
    birth_month: str
    ags5: str
    mv_sequencing: bool
    research_consented: bool
    diagnoses: list[dict[str, str]] = field(default_factory=list)
    phenotypes: list[str] = field(default_factory=list)
    parts: dict[str, Any] = field(default_factory=dict)
    """Official dataset part (``metaData``, ``case``, ``molecular``, ``plan``, ``followUp``) →
    its JSON as stored (see :func:`genomlab.clinical_node.dataset.get_stored_parts`)."""


class _Checker:
    def __init__(self, record: dict[str, Any], source: str) -> None:
        self.record = record
        self.source = source

    def fail(self, path: str, message: str) -> RecordRejected:
        return RecordRejected(self.source, path, message)

    def get(self, path: str, *, required: bool = True) -> Any:
        value: Any = self.record
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                if required:
                    raise self.fail(path, "missing")
                return None
            value = value[part]
        return value

    def match(self, path: str, pattern: re.Pattern[str], what: str, value: Any = None) -> str:
        value = self.get(path) if value is None else value
        if not isinstance(value, str) or not pattern.match(value):
            raise self.fail(path, f"{value!r} is not a valid {what}")
        return value

    def day(self, path: str, value: Any = None) -> str:
        value = self.get(path) if value is None else value
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise self.fail(path, f"{value!r} is not an ISO date") from exc

    def listed(self, path: str) -> list[Any]:
        value = self.get(path, required=False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, "must be a list")
        return value


def _check_consents(c: _Checker, submitted: date) -> tuple[bool, bool]:
    from grz_pydantic_models.submission.metadata import MvConsent, ResearchConsent

    try:
        mv = MvConsent.model_validate(c.get("metaData.mvConsent"))
    except ValidationError as exc:
        loc = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise c.fail(f"metaData.mvConsent.{loc}".rstrip("."), exc.errors()[0]["msg"]) from exc
    mv_sequencing = any(s.domain == "mvSequencing" and s.type_ == "permit" for s in mv.scope)
    consents = []
    for i, raw in enumerate(c.listed("metaData.researchConsents")):
        try:
            consents.append(ResearchConsent.model_validate(raw))
        except ValidationError as exc:
            loc = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise c.fail(f"metaData.researchConsents[{i}].{loc}".rstrip("."),
                         exc.errors()[0]["msg"]) from exc
    research = bool(consents) and ResearchConsent.consents_to_research(consents, submitted)
    return mv_sequencing, research


def _check_coding(c: _Checker, path: str, coding: Any, pattern: re.Pattern[str],
                  what: str) -> str:
    return c.match(f"{path}.code", pattern, what, (coding or {}).get("code"))


def _check_oncology(c: _Checker) -> tuple[list[dict[str, str]], list[str], str]:
    base = "case.diagnosisOd"
    main = _check_coding(c, f"{base}.mainDiagnosis", c.get(f"{base}.mainDiagnosis"), ICD10GM,
                         "ICD-10-GM code")
    diagnoses = [{"system": "ICD-10-GM", "code": main}]
    for name, system, pattern, what in (("histology", "ICD-O-3-M", ICDO3_M, "morphology"),
                                        ("topography", "ICD-O-3-T", ICDO3_T, "topography")):
        diagnoses.append({"system": system, "code": _check_coding(
            c, f"{base}.{name}", c.get(f"{base}.{name}"), pattern, f"ICD-O-3 {what} code")})
    hpo = [_check_coding(c, f"{base}.hpoTerms[{i}]", t, HPO, "HPO term")
           for i, t in enumerate(c.listed(f"{base}.hpoTerms"))]
    return diagnoses, hpo, str(c.get(f"{base}.libraryType"))


RARE_DIAGNOSIS_SYSTEMS = {  # system URI -> (stored system, code pattern, what)
    CODE_SYSTEMS["ICD-10-GM"]["system"]: ("ICD-10-GM", ICD10GM, "ICD-10-GM code"),
    CODE_SYSTEMS["ORPHA"]["system"]: ("ORPHA", re.compile(r"^[0-9]{1,7}$"), "ORPHAcode"),
    CODE_SYSTEMS["Alpha-ID"]["system"]: ("Alpha-ID", ALPHA_ID, "Alpha-ID"),
}
"""RareDiseasesCase.json: "ICD10 mandatory, ORPHACode mandatory, Alpha ID mandatory"."""


def _check_rare(c: _Checker) -> tuple[list[dict[str, str]], list[str], str]:
    base = "case.diagnosisRd"
    diagnoses = []
    for i, entry in enumerate(c.listed(f"{base}.diagnoses")):
        known = RARE_DIAGNOSIS_SYSTEMS.get(entry.get("system"))
        if known is None:
            raise c.fail(f"{base}.diagnoses[{i}].system", f"{entry.get('system')!r} is not one "
                         f"of {', '.join(RARE_DIAGNOSIS_SYSTEMS)}")
        system, pattern, what = known
        code = _check_coding(c, f"{base}.diagnoses[{i}]", entry, pattern, what)
        diagnoses.append({"system": system, "code": f"ORPHA:{code}" if system == "ORPHA"
                          else code})
    missing = [s[0] for s in RARE_DIAGNOSIS_SYSTEMS.values()
               if s[0] not in {d["system"] for d in diagnoses}]
    if missing:
        raise c.fail(f"{base}.diagnoses", f"no {' and no '.join(missing)} coding (all three "
                     "code systems are mandatory)")
    hpo = [_check_coding(c, f"{base}.phenotypes[{i}]", t, HPO, "HPO term")
           for i, t in enumerate(c.listed(f"{base}.phenotypes"))]
    return diagnoses, hpo, str(c.get(f"{base}.libraryType"))


def _check_schema(record: Any, source: str) -> None:
    """Refuse the record at its first failure against BfArM's schemas."""
    errors = get_kdk_errors(record)
    if errors:
        first = errors[0]
        more = f"; {len(errors) - 1} more" if len(errors) > 1 else ""
        raise RecordRejected(source, first.field,
                             f"{first.message} (schema {first.schema_path}{more})")


def validate_clinical_record(record: Any, *, source: str) -> ClinicalRecord:
    """Validate one KDK record (parsed JSON); return what the clinical store keeps."""
    c = _Checker(record if isinstance(record, dict) else {}, source)
    if not isinstance(record, dict):
        raise c.fail("record", "must be a JSON object")
    _check_schema(record, source)
    sub = "metaData.submission"
    submitted = c.day(f"{sub}.date")
    submitter = c.match(f"{sub}.submitterId", IK, "IK (9 digits)")
    node = c.match(f"{sub}.clinicalDataNodeId", KDK_ID, "KDK id")
    tan_c = c.match("metaData.tanC", TAN, "tanC (64 hex digits)")
    birth = str(c.get("metaData.birthDate"))
    if birth > submitted[:7]:
        raise c.fail("metaData.birthDate", f"{birth} is after the submission date {submitted}")
    ags = c.match("metaData.addressAGS", re.compile(r"^[0-9]{5}([0-9]{3})?$"), "AGS")[:5]
    mv_sequencing, research = _check_consents(c, date.fromisoformat(submitted))
    diagnoses, hpo, library = (_check_oncology(c) if "diagnosisOd" in record["case"]
                               else _check_rare(c))
    if library != "none":
        c.match(f"{sub}.genomicDataCenterId", GRZ_ID, "GRZ id")
    return ClinicalRecord(
        tan_c=tan_c.lower(), node_id=node, submitter_id=submitter, submission_date=submitted,
        submission_type=str(c.get(f"{sub}.type")), disease_type=str(c.get(f"{sub}.diseaseType")),
        coverage_type=str(c.get("metaData.coverageType")), library_type=library,
        gender=str(c.get("metaData.gender")), birth_month=birth, ags5=ags,
        mv_sequencing=mv_sequencing, research_consented=research, diagnoses=diagnoses,
        phenotypes=hpo, parts=get_stored_parts(record))
