"""Clinical records of a world for the clinical data nodes (KDK dataset shapes).

One record per initial submission's index patient, in the oncology or rare-disease shape of
BfArM's KDK dataset (``metaData``, ``case``, ``plan``, ``molecular``): ICD-10-GM diagnoses,
ICD-O-3 topography/morphology, HPO terms (the planted HPO term when the patient is affected),
ECOG, board decision dates, recommended therapies and reported variants at the world's sites.
All codes are real code-system entries; the patients are synthetic.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

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


def _reported_variant(carried: list[str], rng: np.random.Generator) -> list[dict]:
    if not carried:
        return []
    contig, pos, ref, alt = carried[int(rng.integers(len(carried)))].split(":")
    return [{"gene": {"system": "synthetic", "code": f"SYN{int(pos) % 997:03d}"},
             "chromosome": contig, "startPosition": int(pos), "endPosition": int(pos),
             "ref": ref, "alt": alt, "referenceGenome": "GRCh38",
             "zygosity": "heterozygous"}]


def build_clinical_record(rng: np.random.Generator, cohort: Cohort, paper: Paperwork,
                          pheno: Phenotypes, sub_i: int, tan_c: str,
                          carried: list[str]) -> dict:
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

    Returns
    -------
    dict
        ``metaData``, ``case``, ``plan``, ``molecular`` in the oncology or rare-disease shape.

    Examples
    --------
    See :func:`write_clinical_records`.
    """
    sub = cohort.submissions[sub_i]
    index = sub.index
    s = cohort.samples[index]
    day = paper.submission_date[sub_i]
    oncology = sub.disease_type == "oncological"
    born = (1940 + int(rng.integers(50))) if oncology else (2004 + int(rng.integers(18)))
    board = day + dt.timedelta(days=int(rng.integers(20, 70)))
    record = paper.consents[index]
    library = paper.library_type[index]
    meta = {
        "submission": {"date": day.isoformat(), "type": "initial", "submitterId": sub.hospital_ik,
                       "clinicalDataNodeId": sub.kdk, "genomicDataCenterId": sub.grz,
                       "diseaseType": sub.disease_type},
        "coverageType": paper.coverage_type[sub_i], "mvConsent": get_mv_consent(record),
        "researchConsents": get_research_consents(record, f"Patient/{paper.arbeitsnummer[index]}",
                                               day),
        "tanC": tan_c, "localCaseId": paper.local_case_id[sub_i], "gender": s.reported_sex,
        "birthDate": f"{born}-{int(rng.integers(1, 13)):02d}",
        "addressAGS": AGS_PREFIXES[int(rng.integers(len(AGS_PREFIXES)))],
        "decisionToInclude": True,
        "molecularBoardDecisionDate": board.isoformat(),
    }
    hpo = [{"code": code, "display": label} for code, label in
           [OTHER_HPO[int(i)] for i in rng.choice(len(OTHER_HPO), 2, replace=False)]]
    if pheno.hpo_affected[s.person]:
        hpo.insert(0, {"code": PLANTED_HPO[0], "display": PLANTED_HPO[1]})
    variants = _reported_variant(carried, rng)
    if oncology:
        icd, topo, morph, label = TUMOURS[int(rng.integers(len(TUMOURS)))]
        atc, substance = THERAPIES[int(rng.integers(len(THERAPIES)))]
        diagnosed = day - dt.timedelta(days=int(rng.integers(60, 400)))
        return {
            "metaData": meta,
            "case": {"diagnosisOd": {
                "mainDiagnosis": {"code": icd, "system": "ICD-10-GM", "display": label,
                                  "date": diagnosed.isoformat()},
                "topography": {"code": topo, "system": "ICD-O-3-T"},
                "histology": {"code": morph, "system": "ICD-O-3-M"},
                "ecogPerformanceStatusScore": str(int(rng.integers(0, 4))),
                "hpoTerms": hpo, "libraryType": library,
                "germlineDiagnosisConfirmed": False}},
            "plan": {"carePlanOd": {"molecularBoardDecisionDate": board.isoformat(),
                                    "interventionRecommended": True,
                                    "studyRecommended": bool(rng.random() < 0.3),
                                    "counsellingRecommended": bool(rng.random() < 0.2)},
                     "recommendedSystemicTherapies": [{
                         "type": "offLabel" if rng.random() < 0.4 else "inLabel",
                         "evidenceLevel": ("m1A", "m1B", "m2A", "m3")[int(rng.integers(4))],
                         "substances": [{"code": atc, "system": "ATC", "display": substance}]}]},
            "molecular": {"smallVariants": variants},
        }
    icd, orpha, alpha, label = RARE_DIAGNOSES[int(rng.integers(len(RARE_DIAGNOSES)))]
    extent = {"single": "single", "duo": "duo", "trio": "trioGenome"}[sub.study_type]
    return {
        "metaData": meta,
        "case": {"diagnosisRd": {
            "phenotypes": hpo,
            "symptomOnsetDate": f"{born + int(rng.integers(0, 3))}-{int(rng.integers(1, 13)):02d}",
            "molecularBoardDecisionDate": board.isoformat(), "diagnosticExtent": extent,
            "libraryType": library,
            "diagnosticAssessment": ("noGeneticDiagnosis", "suspectedGeneticDiagnosis",
                                     "confirmedGeneticDiagnosis")[int(rng.integers(3))],
            "diagnoses": [{"icd10gm": icd, "orphacode": orpha, "alphaId": alpha,
                           "display": label}]}},
        "plan": {"carePlanRd": {"molecularBoardDecisionDate": board.isoformat(),
                                "counsellingRecommended": True},
                 "recommendedTherapies": [{"type": "symptomatic",
                                           "strategy": "drug" if rng.random() < 0.6
                                           else "supportive"}]},
        "molecular": {"variants": [{**v, "acmgClass": 3, "significance": "candidate",
                                    "modeOfInheritance": "autosomalDominant"}
                                   for v in variants]},
    }


def write_clinical_records(rng: np.random.Generator, out: Path, cohort: Cohort,
                           paper: Paperwork, pheno: Phenotypes,
                           carried: dict[int, list[str]]) -> dict[int, tuple[str, str]]:
    """Write ``kdk/<KDK id>/records/<tanC prefix>.json`` per index patient.

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
                                       carried.get(sub.index, []))
        rel = f"kdk/{sub.kdk}/records/{tan_c[:16]}.json"
        write_json(out / rel, record)
        written[sub.index] = (rel, tan_c)
    return written
