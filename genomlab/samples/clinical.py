"""Clinical records of a world for the clinical data nodes (BfArM's official KDK dataset).

One record per initial submission's index patient that validates against BfArM's schemas
(``Oncology.json`` / ``RareDiseases.json``, shipped in ``genomlab/clinical_node/kdk_spec``):
``metaData``, ``case``, ``molecular``, ``plan`` and ``followUp`` with ICD-10-GM, ICD-O-3, ORPHA,
Alpha-ID and HPO codings, ECOG, board decision dates, recommended therapies and the reported
variant at one of the world's sites the patient carries. Disease codes are real code-system
entries; genes are synthetic (``SYNnnn``) and the patients are synthetic.

Besides: ``kdk_bad_records/<defect>.json``, copies of a valid record with one planted defect
each (:data:`PLANTED_DEFECTS`), listed in ``truth.json`` under ``bad_kdk_records`` with the
field and BfArM schema location that must fail (outside ``kdk/``, so world intake never reads
them).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from genomlab.clinical_node.kdk_schema import CODE_SYSTEMS
from genomlab.samples.cohort import Cohort
from genomlab.samples.files import write_json
from genomlab.samples.paperwork import Paperwork
from genomlab.samples.phenotypes import PLANTED_HPO, Phenotypes
from genomlab.samples.submissions import get_mv_consent, get_research_consents

TUMOURS = (  # ICD-10-GM, ICD-O-3 topography, ICD-O-3 morphology, label
    ("C34.1", "C34.1", "8140/3", "Adenokarzinom des Oberlappens"),
    ("C50.4", "C50.4", "8500/3", "Invasiv-duktales Mammakarzinom"),
    ("C18.7", "C18.7", "8140/3", "Adenokarzinom des Colon sigmoideum"),
    ("C25.0", "C25.0", "8500/3", "Duktales Adenokarzinom des Pankreaskopfes"),
    ("C71.1", "C71.1", "9440/3", "Glioblastom des Frontallappens"),
)
THERAPIES = (("L01EB04", "Osimertinib"), ("L01XK01", "Olaparib"), ("L01FF02", "Pembrolizumab"),
             ("L01FD01", "Trastuzumab"), ("L01EC02", "Dabrafenib"))
RARE_DIAGNOSES = (  # ICD-10-GM, ORPHAcode, Alpha-ID-SE (synthetic id), label
    ("G40.3", "ORPHA:166", "I97525", "Generalisierte idiopathische Epilepsie"),
    ("Q87.1", "ORPHA:904", "I104772", "Noonan-Syndrom"),
    ("F84.2", "ORPHA:778", "I90734", "Rett-Syndrom"),
    ("E75.2", "ORPHA:355", "I83210", "Morbus Gaucher"),
)
OTHER_HPO = (("HP:0001263", "Global developmental delay"), ("HP:0001252", "Hypotonia"),
             ("HP:0000252", "Microcephaly"), ("HP:0004322", "Short stature"),
             ("HP:0001249", "Intellectual disability"))
AGS_PREFIXES = ("08416", "09162", "11000", "05315", "06412", "14612", "03241")
ICD10GM, ICDO3, HPO, ORPHA, ALPHA_ID, ATC = (
    CODE_SYSTEMS[k] for k in ("ICD-10-GM", "ICD-O-3", "HPO", "ORPHA", "Alpha-ID", "ATC"))
SYNTHETIC_GENE = "https://genomlab.invalid/synthetic-gene"
"""Genes of the world are synthetic: not HGNC."""
RESEARCH_CONSENT_VERSION = "2025.0.1"
"""The MII consent schema version Submission.json allows (the GRZ metadata carries 2025.0.4)."""


def _reported_variant(carried: list[str], rng: np.random.Generator) -> list[dict]:
    """The one variant the record reports (VCF-style GRCh38, chromosome without ``chr``)."""
    if not carried:
        return []
    contig, pos, ref, alt = carried[int(rng.integers(len(carried)))].split(":")
    gene = f"SYN{int(pos) % 997:03d}"
    return [{"identifier": "var-1", "gene": {"system": SYNTHETIC_GENE, "code": gene,
                                              "display": gene},
             "chromosome": contig.removeprefix("chr"), "startPosition": int(pos),
             "endPosition": int(pos) + len(ref) - 1, "ref": ref, "alt": alt,
             "gdnaChange": f"g.{pos}{ref}>{alt}"}]


def _kdk_research_consents(record: dict, patient_ref: str, day: dt.date) -> list[dict]:
    """The research consents as Submission.json has them (none if the patient gave none)."""
    return [{**c, "schemaVersion": RESEARCH_CONSENT_VERSION}
            for c in get_research_consents(record, patient_ref, day) if "scope" in c]


def _oncology_parts(rng: np.random.Generator, extra: np.random.Generator, board: dt.date,
                    day: dt.date, hpo: list[dict], library: str, variants: list[dict],
                    germline: bool) -> dict:
    icd, topo, morph, label = TUMOURS[int(rng.integers(len(TUMOURS)))]
    atc, substance = THERAPIES[int(rng.integers(len(THERAPIES)))]
    diagnosed = day - dt.timedelta(days=int(rng.integers(60, 400)))
    case = {"diagnosisOd": {
        "mainDiagnosis": {**ICD10GM, "code": icd, "display": label, "date": diagnosed.isoformat()},
        "topography": {**ICDO3, "code": topo}, "histology": {**ICDO3, "code": morph},
        "ecogPerformanceStatusScore": str(int(rng.integers(0, 4))),
        "hpoTerms": hpo, "libraryType": library, "germlineDiagnosisConfirmed": germline}}
    care = {"molecularBoardDecisionDate": board.isoformat(), "interventionRecommended": True,
            "studyRecommended": bool(rng.random() < 0.3),
            "counsellingRecommended": bool(rng.random() < 0.2),
            "reEvaluationRecommended": bool(extra.random() < 0.1)}
    therapy = {"identifier": "ther-1", "type": "offLabel" if rng.random() < 0.4 else "inLabel",
               "evidenceLevel": ("m1A", "m1B", "m2A", "m3")[int(rng.integers(4))],
               "substances": [{"code": {**ATC, "code": atc, "display": substance},
                               "name": substance}],
               "priority": 1, "therapeuticStrategy": "ZS",
               "variants": [v["identifier"] for v in variants]}
    started = board + dt.timedelta(days=int(extra.integers(7, 40)))
    follow_up = board + dt.timedelta(days=int(extra.integers(90, 200)))
    return {
        "case": case,
        "molecular": {"smallVariants": [
            {**{k: x for k, x in v.items() if k != "gdnaChange"},
             "genomicSource": "germline" if germline else "somatic",
             "dnaChange": v["gdnaChange"], "localization": "coding"} for v in variants]},
        "plan": {"carePlanOd": care, "recommendedSystemicTherapies": [therapy]},
        "followUp": {"followUpOds": [{
            "followUpDate": follow_up.isoformat(), "metachroneDiagnoses": False,
            "ecogPerformanceStatusScore": str(int(extra.integers(0, 4))),
            "vitalStatus": "living", "lastContactDate": follow_up.isoformat(),
            "therapies": [{"reference": "ther-1", "therapyStartDate": started.isoformat(),
                           "therapyResponse": ("PD", "SD", "PR", "CR")[int(extra.integers(4))],
                           "therapyResponseDate": follow_up.isoformat()}]}]},
    }


def _rare_parts(rng: np.random.Generator, extra: np.random.Generator, board: dt.date,
                born: int, study_type: str, hpo: list[dict], library: str,
                variants: list[dict]) -> dict:
    icd, orpha, alpha, label = RARE_DIAGNOSES[int(rng.integers(len(RARE_DIAGNOSES)))]
    onset = f"{born + int(rng.integers(0, 3))}-{int(rng.integers(1, 13)):02d}"
    assessment = ("noGeneticDiagnosis", "suspectedGeneticDiagnosis",
                  "confirmedGeneticDiagnosis")[int(rng.integers(3))]
    strategy = "systemicMedication" if rng.random() < 0.6 else "other"
    follow_up = board + dt.timedelta(days=int(extra.integers(90, 200)))
    return {
        "case": {"diagnosisRd": {
            "phenotypes": hpo, "symptomOnsetDate": onset,
            "molecularBoardDecisionDate": board.isoformat(),
            "diagnosticExtent": f"{study_type}Genome", "libraryType": library,
            "diagnosticAssessment": assessment,
            "diagnoses": [{**ICD10GM, "code": icd, "display": label},
                          {**ORPHA, "code": orpha.removeprefix("ORPHA:"), "display": label},
                          {**ALPHA_ID, "code": alpha, "display": label}]}},
        "molecular": {"smallVariants": [
            {**v, "acmgClass": "3", "zygosity": "heterozygous",
             "diagnosticSignificance": "candidate", "modeOfInheritance": "dominant",
             "localization": [{"code": "codingRegion"}]} for v in variants]},
        "plan": {"carePlanRd": {"molecularBoardDecisionDate": board.isoformat(),
                                "counsellingRecommended": True, "studyRecommended": False,
                                "reEvaluationRecommended": bool(extra.random() < 0.3),
                                "therapyRecommended": True,
                                "clinicalManagementRecommended": False},
                 "recommendedTherapies": [{
                     "identifier": "ther-1", "type": "symptomatic", "strategy": strategy,
                     **({"strategyOther": "supportive care"} if strategy == "other" else {}),
                     "variants": [v["identifier"] for v in variants]}]},
        "followUp": {"followUpRds": [{
            "followUpDate": follow_up.isoformat(),
            "phenotypes": [{**t, "change": "unchanged"} for t in hpo],
            "diagnosisEstablished": assessment == "confirmedGeneticDiagnosis",
            "vitalStatus": "living"}]},
    }


def build_clinical_record(rng: np.random.Generator, cohort: Cohort, paper: Paperwork,
                          pheno: Phenotypes, sub_i: int, tan_c: str,
                          carried: list[str], extra: np.random.Generator | None = None) -> dict:
    """The KDK record of submission ``sub_i``'s index patient.

    Parameters
    ----------
    rng, cohort, paper, pheno
        The world's paperwork stream, cohort, paperwork draws and phenotypes.
    sub_i
        Submission index.
    tan_c
        The clinical Vorgangsnummer (64 hex).
    carried
        Variant ids (contig:pos:ref:alt) at which the index patient carries the alternate allele.
    extra
        Stream of the draws the official dataset added (follow-up dates, …), so that ``rng``'s
        draws (and so every tanC of a world) stay what they were; default: a stream of ``sub_i``.

    Returns
    -------
    dict
        ``metaData``, ``case``, ``molecular``, ``plan``, ``followUp`` of BfArM's Oncology.json
        or RareDiseases.json.

    Examples
    --------
    See :func:`write_clinical_records`.
    """
    extra = np.random.default_rng([sub_i, 8]) if extra is None else extra
    sub = cohort.submissions[sub_i]
    index = sub.index
    s = cohort.samples[index]
    day = paper.submission_date[sub_i]
    oncology = sub.disease_type in ("oncological", "hereditary")  # Submission.json: Oncology
    born = (1940 + int(rng.integers(50))) if oncology else (2004 + int(rng.integers(18)))
    board = day + dt.timedelta(days=int(rng.integers(20, 70)))
    record = paper.consents[index]
    library = paper.library_type[index]
    meta = {
        "submission": {"date": day.isoformat(), "type": "initial", "submitterId": sub.hospital_ik,
                       "clinicalDataNodeId": sub.kdk, "genomicDataCenterId": sub.grz,
                       "diseaseType": sub.disease_type},
        "coverageType": paper.coverage_type[sub_i], "mvConsent": get_mv_consent(record),
        "researchConsents": _kdk_research_consents(
            record, f"Patient/{paper.arbeitsnummer[index]}", day),
        "tanC": tan_c, "localCaseId": paper.local_case_id[sub_i], "gender": s.reported_sex,
        "birthDate": f"{born}-{int(rng.integers(1, 13)):02d}",
        "addressAGS": AGS_PREFIXES[int(rng.integers(len(AGS_PREFIXES)))],
        "decisionToInclude": True,
        "molecularBoardDecisionDate": board.isoformat(),
    }
    if not meta["researchConsents"]:
        del meta["researchConsents"]
    hpo = [{**HPO, "code": code, "display": label} for code, label in
           [OTHER_HPO[int(i)] for i in rng.choice(len(OTHER_HPO), 2, replace=False)]]
    if pheno.hpo_affected[s.person]:
        hpo.insert(0, {**HPO, "code": PLANTED_HPO[0], "display": PLANTED_HPO[1]})
    variants = _reported_variant(carried, rng)
    if oncology:
        return {"metaData": meta,
                **_oncology_parts(rng, extra, board, day, hpo, library, variants,
                                   sub.disease_type == "hereditary")}
    return {"metaData": meta, **_rare_parts(rng, extra, board, born, sub.study_type, hpo,
                                            library, variants)}


PLANTED_DEFECTS: dict[str, tuple[str, str, str, str]] = {
    # name: (disease kind, field (JSON path), BfArM schema location, what is wrong)
    "rare_diagnoses_too_few": (
        "rare", "case.diagnosisRd.diagnoses",
        "RareDiseasesCase.json#/$defs/DiagnosisRd/properties/diagnoses/minItems",
        "ICD-10-GM and ORPHA only: the Alpha-ID coding is missing"),
    "rare_plan_therapy_recommended_missing": (
        "rare", "plan.carePlanRd",
        "RareDiseasesPlan.json#/$defs/CarePlanRd/required", "therapyRecommended left out"),
    "rare_molecular_acmg_class_6": (
        "rare", "molecular.smallVariants[0].acmgClass",
        "RareDiseasesMolecular.json#/$defs/Variant/properties/acmgClass/enum",
        "ACMG class 6 does not exist"),
    "rare_follow_up_vital_status_alive": (
        "rare", "followUp.followUpRds[0].vitalStatus",
        "RareDiseasesFollowUp.json#/properties/followUpRds/items/properties/vitalStatus/enum",
        "'alive' instead of 'living'"),
    "oncology_main_diagnosis_version_missing": (
        "oncological", "case.diagnosisOd.mainDiagnosis",
        "OncologyCase.json#/$defs/DiagnosisOd/properties/mainDiagnosis/allOf/1/required",
        "ICD-10-GM coding without its version"),
    "oncology_molecular_chr_prefix": (
        "oncological", "molecular.smallVariants[0].chromosome",
        "OncologyMolecular.json#/$defs/SmallVariant/properties/chromosome/enum",
        "chromosome 'chr7' (the schema wants '7')"),
    "oncology_plan_priority_text": (
        "oncological", "plan.recommendedSystemicTherapies[0].priority",
        "OncologyPlan.json#/$defs/RecommendedSystemicTherapy/properties/priority/type",
        "priority 'high' instead of an integer"),
    "oncology_follow_up_date_invalid": (
        "oncological", "followUp.followUpOds[0].followUpDate",
        "OncologyFollowUp.json#/$defs/FollowUpOd/properties/followUpDate/format",
        "30 February"),
    "oncology_birth_date_with_day": (
        "oncological", "metaData.birthDate", "Submission.json#/properties/birthDate/pattern",
        "birth date with the day (the dataset keeps the month only)"),
}
"""The defects planted in ``kdk_bad_records/``: each fails BfArM's schema at one place."""


def plant_record_defect(record: dict, name: str) -> dict:
    """A copy of a valid record (of the defect's disease kind) with defect ``name`` planted.

    Examples
    --------
    >>> rec = {"plan": {"carePlanRd": {"therapyRecommended": True}}}
    >>> plant_record_defect(rec, "rare_plan_therapy_recommended_missing")["plan"]
    {'carePlanRd': {}}
    """
    bad = json.loads(json.dumps(record))
    if name == "rare_diagnoses_too_few":
        bad["case"]["diagnosisRd"]["diagnoses"].pop()
    elif name == "rare_plan_therapy_recommended_missing":
        del bad["plan"]["carePlanRd"]["therapyRecommended"]
    elif name == "rare_molecular_acmg_class_6":
        bad["molecular"]["smallVariants"][0]["acmgClass"] = "6"
    elif name == "rare_follow_up_vital_status_alive":
        bad["followUp"]["followUpRds"][0]["vitalStatus"] = "alive"
    elif name == "oncology_main_diagnosis_version_missing":
        del bad["case"]["diagnosisOd"]["mainDiagnosis"]["version"]
    elif name == "oncology_molecular_chr_prefix":
        bad["molecular"]["smallVariants"][0]["chromosome"] = "chr7"
    elif name == "oncology_plan_priority_text":
        bad["plan"]["recommendedSystemicTherapies"][0]["priority"] = "high"
    elif name == "oncology_follow_up_date_invalid":
        bad["followUp"]["followUpOds"][0]["followUpDate"] = "2026-02-30"
    elif name == "oncology_birth_date_with_day":
        bad["metaData"]["birthDate"] += "-15"
    else:
        raise KeyError(name)
    return bad


def write_bad_clinical_records(out: Path, records: dict[int, tuple[str, str]]) -> list[dict]:
    """Write each planted defect into a copy of the first world record of its disease kind
    (with a variant) as ``kdk_bad_records/<defect>.json``.

    Returns
    -------
    list of dict
        ``truth.json``'s ``bad_kdk_records``: path, derived_from, field, schema_path, reason.
    """
    by_kind: dict[str, tuple[str, dict]] = {}
    for rel, _ in sorted(records.values()):
        record = json.loads((out / rel).read_text())
        kind = "rare" if "diagnosisRd" in record["case"] else "oncological"  # or hereditary
        if record["molecular"]["smallVariants"] and kind not in by_kind:
            by_kind[kind] = (rel, record)
    truth = []
    for name, (kind, field_path, schema_path, reason) in PLANTED_DEFECTS.items():
        rel, record = by_kind[kind]
        bad_rel = f"kdk_bad_records/{name}.json"
        write_json(out / bad_rel, plant_record_defect(record, name))
        truth.append({"path": bad_rel, "derived_from": rel, "field": field_path,
                      "schema_path": schema_path, "reason": reason})
    return truth


def write_clinical_records(rng: np.random.Generator, out: Path, cohort: Cohort,
                           paper: Paperwork, pheno: Phenotypes,
                           carried: dict[int, list[str]],
                           extra: np.random.Generator | None = None
                           ) -> dict[int, tuple[str, str]]:
    """Write ``kdk/<KDK id>/records/<tanC prefix>.json`` per index patient.

    ``extra``: the stream of the official dataset's added draws (see
    :func:`build_clinical_record`); default one per submission.

    Returns
    -------
    dict
        Sample index of each index patient -> (record path relative to ``out``, tanC).

    Examples
    --------
    >>> import json, tempfile
    >>> from genomlab.samples import generate_world, load_truth
    >>> w = generate_world(Path(tempfile.mkdtemp()) / "w", n_patients=30, n_variants=1000)
    >>> s = next(s for s in load_truth(w.out_dir)["samples"] if s["relation"] == "index")
    >>> "metaData" in json.loads((w.out_dir / s["kdk_record"]).read_text())
    True
    """
    written: dict[int, tuple[str, str]] = {}
    for sub_i, sub in enumerate(cohort.submissions):
        tan_c = rng.bytes(32).hex()
        record = build_clinical_record(rng, cohort, paper, pheno, sub_i, tan_c,
                                       carried.get(sub.index, []), extra)
        rel = f"kdk/{sub.kdk}/records/{tan_c[:16]}.json"
        write_json(out / rel, record)
        written[sub.index] = (rel, tan_c)
    return written
