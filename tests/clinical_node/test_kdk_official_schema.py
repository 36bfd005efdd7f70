"""BfArM's official KDK dataset: shipped schemas, validation of every part, planted defects,
what the store keeps, and releases of official dataset paths (issue 18).

The BfArM repository (copy in ``genomlab/clinical_node/kdk_spec``) ships no KDK example
records (its README names examples for the Prüfbericht only), so the examples here are minimal
valid records built from the schemas' required fields, one per entry schema and part.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from genomlab.clinical_node.dataset import (
    check_dataset_path,
    get_dataset_paths,
    get_dataset_values,
    get_stored_parts,
)
from genomlab.clinical_node.kdk_schema import get_kdk_errors, get_kdk_schemas
from genomlab.clinical_node.records import RecordRejected, validate_clinical_record
from genomlab.errors import ValidationFailed
from tests.conftest import REPO

WORLD = REPO / "data_samples" / "world"
TRUTH = json.loads((WORLD / "truth.json").read_text())
SPEC = REPO / "genomlab" / "clinical_node" / "kdk_spec"
CODING = {"system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm", "version": "2025"}

META = {
    "submission": {"date": "2025-03-04", "type": "initial", "submitterId": "260530103",
                   "clinicalDataNodeId": "KDKK00001", "genomicDataCenterId": "GRZK00001",
                   "diseaseType": "rare"},
    "coverageType": "GKV", "tanC": "ab" * 32, "gender": "female", "birthDate": "2015-06",
    "addressAGS": "08416041", "decisionToInclude": True, "molecularBoardDecisionDate": "2025-02-20",
    "mvConsent": {"version": "Patient Info TE Consent MVGenomSeq vers01",
                  "scope": [{"type": "permit", "date": "2025-02-01", "domain": "mvSequencing"}]},
}
MINIMAL_RARE = {
    "metaData": META,
    "case": {"diagnosisRd": {
        "phenotypes": [{"code": "HP:0001250", "version": "2025-05-06"}],
        "symptomOnsetDate": "2016-01", "molecularBoardDecisionDate": "2025-02-20",
        "diagnosticExtent": "singleGenome", "libraryType": "wgs",
        "diagnosticAssessment": "noGeneticDiagnosis",
        "diagnoses": [{**CODING, "code": "G40.3"},
                      {"system": "http://www.orpha.net", "version": "4.5", "code": "166"},
                      {"system": "http://fhir.de/CodeSystem/bfarm/alpha-id", "version": "2025",
                       "code": "I97525"}]}},
    "molecular": {"smallVariants": [{"identifier": "v1", "chromosome": "2",
                                     "startPosition": 100, "endPosition": 100, "ref": "A",
                                     "alt": "G"}]},
    "plan": {"carePlanRd": {"molecularBoardDecisionDate": "2025-02-20",
                            "studyRecommended": False, "counsellingRecommended": True,
                            "reEvaluationRecommended": False, "therapyRecommended": False,
                            "clinicalManagementRecommended": False}},
    "followUp": {"followUpRds": [{"followUpDate": "2025-09-01", "diagnosisEstablished": False,
                                  "vitalStatus": "living",
                                  "phenotypes": [{"code": "HP:0001250", "change": "improved"}]}]},
}
MINIMAL_ONCOLOGY = {
    "metaData": {**META, "submission": {**META["submission"], "diseaseType": "oncological"},
                 "birthDate": "1960-06"},
    "case": {"diagnosisOd": {
        "mainDiagnosis": {**CODING, "code": "C34.1", "date": "2024-11-15"},
        "ecogPerformanceStatusScore": "1", "germlineDiagnosisConfirmed": False,
        "histology": {"system": "urn:oid:2.16.840.1.113883.6.43.1", "version": "3.2",
                      "code": "8140/3"},
        "topography": {"system": "urn:oid:2.16.840.1.113883.6.43.1", "version": "3.2",
                       "code": "C34.1"},
        "libraryType": "wes"}},
    "molecular": {"smallVariants": [{
        "identifier": "v1", "chromosome": "7", "startPosition": 55191822,
        "endPosition": 55191822, "ref": "T", "alt": "G", "genomicSource": "somatic",
        "gene": {"code": "HGNC:3236", "display": "EGFR"}, "dnaChange": "c.2573T>G",
        "localization": "coding"}]},
    "plan": {"carePlanOd": {"molecularBoardDecisionDate": "2025-02-20",
                            "studyRecommended": False, "counsellingRecommended": False,
                            "reEvaluationRecommended": False, "interventionRecommended": True}},
    "followUp": {"followUpOds": [{"followUpDate": "2025-09-01", "metachroneDiagnoses": False,
                                  "ecogPerformanceStatusScore": "1", "vitalStatus": "living"}]},
}
EXAMPLES = {"rare": MINIMAL_RARE, "oncology": MINIMAL_ONCOLOGY}


def test_get_kdk_schemas__shipped_copy_equals_the_reference_with_its_source_note():
    schemas = get_kdk_schemas()
    assert len(schemas) == 14
    assert "data-types/Coding.json" in schemas
    reference = Path("/work/shared/reference/kdk-spec/KDK")
    if reference.is_dir():  # the shared reference exists where the copy was taken
        for name, schema in schemas.items():
            assert json.loads((reference / name).read_text()) == schema, name
    assert "fd1ba42" in (SPEC / "SOURCE.md").read_text()
    assert "[1.6.6]" in (SPEC / "CHANGELOG.md").read_text().splitlines()[1]


@pytest.mark.parametrize("kind", list(EXAMPLES))
def test_validate_clinical_record__minimal_examples_of_every_part_validate(kind):
    record = EXAMPLES[kind]
    assert get_kdk_errors(record) == []
    kept = validate_clinical_record(copy.deepcopy(record), source="example.json")
    assert set(kept.parts) == {"metaData", "case", "molecular", "plan", "followUp"}


@pytest.mark.parametrize(("kind", "part", "field", "schema_path"), [
    ("rare", "case", "record", "RareDiseases.json#/required"),
    ("rare", "plan", "plan", "RareDiseasesPlan.json#/required"),
    ("rare", "followUp", "followUp", "RareDiseasesFollowUp.json#/required"),
    ("oncology", "plan", "plan", "OncologyPlan.json#/required"),
    ("oncology", "followUp", "followUp", "OncologyFollowUp.json#/required"),
])
def test_get_kdk_errors__emptied_part_names_its_schema(kind, part, field, schema_path):
    record = copy.deepcopy(EXAMPLES[kind])
    if part == "case":
        del record["case"]
    else:
        record[part] = {}
    assert (get_kdk_errors(record)[0].field, get_kdk_errors(record)[0].schema_path) == (
        field, schema_path)


def test_validate_clinical_record__every_world_record_validates_against_bfarm():
    records = sorted((WORLD / "kdk").glob("*/records/*.json"))
    kinds = {json.loads(p.read_text())["metaData"]["submission"]["diseaseType"]
             for p in records}
    assert len(records) == 61
    assert kinds == {"rare", "oncological", "hereditary"}
    assert [(p.name, e) for p in records for e in get_kdk_errors(json.loads(p.read_text()))
            ] == []


@pytest.mark.parametrize("bad", TRUTH["bad_kdk_records"], ids=lambda b: Path(b["path"]).stem)
def test_validate_clinical_record__planted_defect_fails_at_its_schema_path(bad):
    with pytest.raises(RecordRejected) as caught:
        validate_clinical_record(json.loads((WORLD / bad["path"]).read_text()),
                                 source="bad.json (record r)")
    line = str(caught.value)
    assert caught.value.field == bad["field"]
    assert line.startswith(f"bad.json (record r): field {bad['field']}: ")
    assert f"(schema {bad['schema_path']}" in line
    assert "\n" not in line


def test_plant_record_defects__both_disease_kinds_planted():
    kinds = {json.loads((WORLD / b["derived_from"]).read_text())["metaData"]["submission"][
        "diseaseType"] for b in TRUTH["bad_kdk_records"]}
    assert len(TRUTH["bad_kdk_records"]) == 9
    assert {"rare", "oncological"} <= kinds


def test_get_stored_parts__drops_linking_fields_and_coarsens_dates():
    parts = get_stored_parts(MINIMAL_ONCOLOGY)
    text = json.dumps(parts)
    for gone in ("ab" * 32, "260530103", "GRZK00001", "KDKK00001", "2025-03-04", "2025-02",
                 "GKV", "mvConsent", "08416041"):
        assert gone not in text, gone
    assert parts["metaData"] == {"gender": "female", "birthDate": "1960-06",
                                 "addressAGS": "08416", "decisionToInclude": True,
                                 "submission": {"diseaseType": "oncological"}}
    assert parts["followUp"]["followUpOds"][0]["followUpDate"] == "2025"
    assert parts["molecular"] == MINIMAL_ONCOLOGY["molecular"]


def test_check_dataset_path__official_paths_only_and_none_dropped():
    assert "molecular.smallVariants.gene.code" in get_dataset_paths()
    assert "followUp.followUpRds.vitalStatus" in get_dataset_paths()
    check_dataset_path("plan.recommendedSystemicTherapies.evidenceLevel")
    for path in ("case.diagnosisOd.nonsense", "metaData.tanC", "metaData.submission.date"):
        with pytest.raises(ValidationFailed, match=path):
            check_dataset_path(path)


def test_get_dataset_values__steps_into_lists():
    parts = get_stored_parts(MINIMAL_RARE)
    assert get_dataset_values(parts, "case.diagnosisRd.diagnoses.code") == [
        "G40.3", "166", "I97525"]
    assert get_dataset_values(parts, "molecular.copyNumberVariants.type") == []


@pytest.fixture(scope="module")
def kdk_node(tmp_path_factory):
    """One KDK of the committed world after intake (its records and the planted defects)."""
    from genomlab.intake import register_world_nodes, request_world_case_numbers, run_kdk_intake
    from tests.conftest import config_for

    world = tmp_path_factory.mktemp("w") / "world"
    shutil.copytree(WORLD, world, ignore=shutil.ignore_patterns("genotypes", "reference_panel"))
    config = config_for(tmp_path_factory.mktemp("kdk") / "home")
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    node = "KDKK00001"
    run_kdk_intake(config, [world / "kdk" / node])
    return config, world, node


def test_submit__stores_every_part_of_each_record(kdk_node):
    from genomlab.clinical_node.intake import ClinicalNode

    config, world, node = kdk_node
    kdk = ClinicalNode(config, node)
    parts = pl.concat([kdk.read_table("parts", store_name=s)
                       for s in ("consented", "nonconsented")])
    n_records = len(list((world / "kdk" / node / "records").glob("*.json")))
    assert parts.group_by("part").len().sort("part").rows() == [
        (p, n_records) for p in ("case", "followUp", "metaData", "molecular", "plan")]
    variants = [json.loads(j)["smallVariants"] for j in
                parts.filter(pl.col("part") == "molecular")["json"]]
    assert all(v and v[0]["chromosome"] and v[0]["ref"] for v in variants)
    assert not any("tanC" in j or "submitterId" in j for j in parts["json"])


def test_submit__refused_defect_stores_nothing(kdk_node):
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.intake import run_kdk_intake

    config, world, node = kdk_node
    kdk = ClinicalNode(config, node)
    before = {s: kdk.read_table("parts", store_name=s).height for s in ("consented",
                                                                          "nonconsented")}
    bad = next(b for b in TRUTH["bad_kdk_records"] if "molecular" in b["field"])
    source = json.loads((world / bad["path"]).read_text())
    target = world / "defect" / "bad.json"
    target.parent.mkdir()
    source["metaData"]["submission"]["clinicalDataNodeId"] = node
    source["metaData"]["tanC"] = "cd" * 32
    target.write_text(json.dumps(source))
    outcome = run_kdk_intake(config, [target.parent])[node][str(target)]
    assert outcome.state == "error"
    row = next(r for r in kdk.get_records() if r["record_id"] == outcome.record_id)
    assert row["failure_field"] == bad["field"]
    assert bad["schema_path"] in row["failure_message"]
    assert {s: kdk.read_table("parts", store_name=s).height for s in before} == before


def test_kdk_submit__defect_exits_nonzero_with_one_line_naming_schema_path(kdk_node, tmp_path):
    config, world, node = kdk_node
    bad = next(b for b in TRUTH["bad_kdk_records"] if b["field"].startswith("followUp"))
    record = json.loads((world / bad["path"]).read_text())
    record["metaData"]["submission"]["clinicalDataNodeId"] = node
    record["metaData"]["tanC"] = "ef" * 32
    target = tmp_path / "followup-defect.json"
    target.write_text(json.dumps(record))
    run = subprocess.run([str(Path(sys.executable).parent / "genomlab"), "kdk", "submit",
                          str(target)], capture_output=True, text=True, check=False,
                         env={**os.environ, "GENOMLAB_HOME": str(config.home)})
    assert run.returncode != 0
    lines = [line for line in (run.stdout + run.stderr).splitlines()
             if "followup-defect.json (record rec-" in line and "rejected" not in line]
    assert len(lines) == 1, run.stdout + run.stderr
    assert f"field {bad['field']}: " in lines[0]
    assert bad["schema_path"] in lines[0]


@pytest.mark.slow  # builds a wheel (about 10 s)
def test_wheel__ships_the_kdk_schemas(tmp_path):
    # built from a copy: setuptools writes build/ into the source tree, and `make test` runs
    # passes side by side on one checkout
    source = tmp_path / "source"
    shutil.copytree(REPO / "genomlab", source / "genomlab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(source)], capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {run.stderr.strip().splitlines()[-1:]}")
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    shipped = {n.split("kdk_spec/", 1)[1] for n in names if "clinical_node/kdk_spec/" in n}
    assert {"Oncology.json", "data-types/Coding.json", "SOURCE.md", "CHANGELOG.md"} <= shipped


def test_read_fields__default_fields_and_official_dataset_paths(kdk_node):
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.data_service.adapters import ClinicalNodeReader

    config, _world, node = kdk_node
    cases = ClinicalNode(config, node).read_table("cases")
    pseudonyms = cases["clinical_pseudonym"].to_list()
    fields = ["sex", "diagnosis", "case.diagnosisOd.ecogPerformanceStatusScore",
              "molecular.smallVariants.chromosome", "followUp.followUpOds.vitalStatus"]
    frame = ClinicalNodeReader(config, node).read_fields(pseudonyms, fields)
    assert frame.columns == ["pseudonym", *fields]
    assert frame.height == len(pseudonyms) > 0
    oncology = cases.filter(pl.col("disease_type") != "rare")["clinical_pseudonym"].to_list()
    onc_rows = frame.filter(pl.col("pseudonym").is_in(oncology))
    assert onc_rows.height > 0
    assert set(onc_rows["case.diagnosisOd.ecogPerformanceStatusScore"]) <= {"0", "1", "2", "3"}
    assert set(onc_rows["followUp.followUpOds.vitalStatus"]) == {"living"}
    assert frame.filter(~pl.col("pseudonym").is_in(oncology))[
        "case.diagnosisOd.ecogPerformanceStatusScore"].null_count() == frame.height - len(
        oncology)
    chromosomes = set(frame["molecular.smallVariants.chromosome"].drop_nulls())
    assert chromosomes
    assert chromosomes <= {str(c) for c in range(1, 23)} | {"X", "Y"}


@pytest.mark.parametrize("field", ["metaData.tanC", "metaData.localCaseId",
                                   "case.diagnosisOd.madeUp"])
def test_read_fields__unstored_or_unknown_path_refused(kdk_node, field):
    from genomlab.data_service.adapters import ClinicalNodeReader

    config, _, node = kdk_node
    with pytest.raises(ValidationFailed, match=f"{node}: clinical field '{field}'"):
        ClinicalNodeReader(config, node).read_fields([], ["sex", field])
