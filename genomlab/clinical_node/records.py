"""Validation of a clinical record of BfArM's KDK dataset (Oncology.json / RareDiseases.json).

Checks structure, the code formats (ICD-10-GM, ICD-O-3 M and T, HPO, ORPHA, Alpha-ID), dates
and consents (model-project consent and MII research consent, evaluated with grz-pydantic-models'
consent models). Every refusal is a :class:`RecordRejected` naming the file, the record and the
field (``metaData.submission.date``, ``case.diagnosisRd.diagnoses[0].orphacode``, …).

Only what the clinical store keeps is returned (:class:`ClinicalRecord`): identity fields of
the record (the research consent's FHIR ``patient`` reference, the local case id) are dropped.

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

from genomlab.errors import ValidationFailed

ICD10GM = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?[+*!†]?$")
ICDO3_M = re.compile(r"^[89][0-9]{3}/[0-9]$")
ICDO3_T = re.compile(r"^C[0-9]{2}(\.[0-9])?$")
HPO = re.compile(r"^HP:[0-9]{7}$")
ORPHA = re.compile(r"^ORPHA:[0-9]{1,7}$")
ALPHA_ID = re.compile(r"^I[0-9]{4,6}$")
TAN = re.compile(r"^[A-Fa-f0-9]{64}$")
IK = re.compile(r"^[0-9]{9}$")
KDK_ID = re.compile(r"^KDK[A-Z0-9]{3}[0-9]{3}$")
GRZ_ID = re.compile(r"^GRZ[A-Z0-9]{3}[0-9]{3}$")
AGS5 = re.compile(r"^[0-9]{5}$")
YEAR_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")

SUBMISSION_TYPES = ("initial", "followup", "addition", "correction", "test")
DISEASE_TYPES = ("oncological", "rare", "hereditary")
COVERAGE_TYPES = ("GKV", "PKV", "BG", "SEL", "SOZ", "GPV", "PPV", "BEI", "SKT", "UNK")
GENDERS = ("male", "female", "other", "unknown")
LIBRARY_TYPES = ("panel", "wes", "wgs", "wgs_lr", "none")


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

    def choice(self, path: str, allowed: tuple[str, ...]) -> str:
        value = self.get(path)
        if value not in allowed:
            raise self.fail(path, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def day(self, path: str, value: Any = None, *, partial: bool = False) -> str:
        value = self.get(path) if value is None else value
        if partial and isinstance(value, str) and YEAR_MONTH.match(value):
            return value
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


def _check_oncology(c: _Checker) -> tuple[list[dict[str, str]], list[str], str]:
    base = "case.diagnosisOd"
    main = c.match(f"{base}.mainDiagnosis.code", ICD10GM, "ICD-10-GM code")
    c.day(f"{base}.mainDiagnosis.date")
    diagnoses = [{"system": "ICD-10-GM", "code": main}]
    if c.get(f"{base}.histology", required=False) is not None:
        diagnoses.append({"system": "ICD-O-3-M", "code": c.match(
            f"{base}.histology.code", ICDO3_M, "ICD-O-3 morphology code")})
    if c.get(f"{base}.topography", required=False) is not None:
        diagnoses.append({"system": "ICD-O-3-T", "code": c.match(
            f"{base}.topography.code", ICDO3_T, "ICD-O-3 topography code")})
    hpo = [c.match(f"{base}.hpoTerms[{i}].code", HPO, "HPO term", (t or {}).get("code"))
           for i, t in enumerate(c.listed(f"{base}.hpoTerms"))]
    library = c.choice(f"{base}.libraryType", LIBRARY_TYPES)
    return diagnoses, hpo, library


def _check_rare(c: _Checker) -> tuple[list[dict[str, str]], list[str], str]:
    base = "case.diagnosisRd"
    diagnoses = []
    entries = c.listed(f"{base}.diagnoses")
    if not entries:
        raise c.fail(f"{base}.diagnoses", "at least one diagnosis is required")
    for i, entry in enumerate(entries):
        entry = entry or {}
        where = f"{base}.diagnoses[{i}]"
        diagnoses += [
            {"system": "ICD-10-GM", "code": c.match(f"{where}.icd10gm", ICD10GM, "ICD-10-GM code",
                                                    entry.get("icd10gm"))},
            {"system": "ORPHA", "code": c.match(f"{where}.orphacode", ORPHA, "ORPHA code",
                                                entry.get("orphacode"))},
            {"system": "Alpha-ID", "code": c.match(f"{where}.alphaId", ALPHA_ID, "Alpha-ID",
                                                   entry.get("alphaId"))},
        ]
    hpo = [c.match(f"{base}.phenotypes[{i}].code", HPO, "HPO term", (t or {}).get("code"))
           for i, t in enumerate(c.listed(f"{base}.phenotypes"))]
    if c.get(f"{base}.symptomOnsetDate", required=False) is not None:
        c.day(f"{base}.symptomOnsetDate", partial=True)
    c.day(f"{base}.molecularBoardDecisionDate")
    library = c.choice(f"{base}.libraryType", LIBRARY_TYPES)
    return diagnoses, hpo, library


def validate_clinical_record(record: Any, *, source: str) -> ClinicalRecord:
    """Validate one KDK record (parsed JSON); return what the clinical store keeps."""
    c = _Checker(record if isinstance(record, dict) else {}, source)
    if not isinstance(record, dict):
        raise c.fail("record", "must be a JSON object")
    sub = "metaData.submission"
    submitted = c.day(f"{sub}.date")
    kind = c.choice(f"{sub}.type", SUBMISSION_TYPES)
    submitter = c.match(f"{sub}.submitterId", IK, "IK (9 digits)")
    node = c.match(f"{sub}.clinicalDataNodeId", KDK_ID, "KDK id")
    disease = c.choice(f"{sub}.diseaseType", DISEASE_TYPES)
    coverage = c.choice("metaData.coverageType", COVERAGE_TYPES)
    tan_c = c.match("metaData.tanC", TAN, "tanC (64 hex digits)")
    gender = c.choice("metaData.gender", GENDERS)
    birth = c.match("metaData.birthDate", YEAR_MONTH, "birth month (YYYY-MM)")
    if birth > submitted[:7]:
        raise c.fail("metaData.birthDate", f"{birth} is after the submission date {submitted}")
    ags = c.match("metaData.addressAGS", re.compile(r"^[0-9]{5}([0-9]{3})?$"), "AGS")[:5]
    if not isinstance(c.get("metaData.decisionToInclude"), bool):
        raise c.fail("metaData.decisionToInclude", "must be true or false")
    c.day("metaData.molecularBoardDecisionDate")
    mv_sequencing, research = _check_consents(c, date.fromisoformat(submitted))
    case = c.get("case")
    if not isinstance(case, dict) or not ({"diagnosisOd", "diagnosisRd"} & case.keys()):
        raise c.fail("case", "needs diagnosisOd (oncology) or diagnosisRd (rare diseases)")
    diagnoses, hpo, library = (_check_oncology(c) if "diagnosisOd" in case else _check_rare(c))
    if library != "none":
        c.match(f"{sub}.genomicDataCenterId", GRZ_ID, "GRZ id")
    return ClinicalRecord(
        tan_c=tan_c.lower(), node_id=node, submitter_id=submitter, submission_date=submitted,
        submission_type=kind, disease_type=disease, coverage_type=coverage, library_type=library,
        gender=gender, birth_month=birth, ags5=ags, mv_sequencing=mv_sequencing,
        research_consented=research, diagnoses=diagnoses, phenotypes=hpo)
