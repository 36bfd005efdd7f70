"""Clinical records: validation naming file/record/field, and intake into Parquet tables."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.records import RecordRejected, validate_clinical_record
from genomlab.clinical_node.store import PROJECTION
from genomlab.ledger import projection_matches
from tests.conftest import REPO

WORLD = REPO / "data_samples" / "world"
RECORDS = sorted((WORLD / "kdk").glob("*/records/*.json"))


def _first(kind: str) -> dict:
    return next(r for r in (json.loads(p.read_text()) for p in RECORDS) if kind in r["case"])


def test_validate_clinical_record__every_world_record_valid():
    records = [validate_clinical_record(json.loads(p.read_text()), source=p.name)
               for p in RECORDS]
    assert len(records) == len(RECORDS) > 0
    assert all(r.node_id == p.parent.parent.name for r, p in zip(records, RECORDS, strict=True))


@pytest.mark.parametrize(("kind", "path", "value", "field"), [
    ("diagnosisOd", ["case", "diagnosisOd", "mainDiagnosis", "code"], "C3X.1",
     "case.diagnosisOd.mainDiagnosis.code"),
    ("diagnosisOd", ["case", "diagnosisOd", "histology", "code"], "8140-3",
     "case.diagnosisOd.histology.code"),
    ("diagnosisOd", ["case", "diagnosisOd", "topography", "code"], "D34.1",
     "case.diagnosisOd.topography.code"),
    ("diagnosisRd", ["case", "diagnosisRd", "diagnoses", 1, "code"], "ORPHA-355",
     "case.diagnosisRd.diagnoses[1].code"),
    ("diagnosisRd", ["case", "diagnosisRd", "phenotypes", 0, "code"], "HP:12",
     "case.diagnosisRd.phenotypes[0].code"),
    ("diagnosisRd", ["case", "diagnosisRd", "diagnoses", 0, "code"], "e75.2",
     "case.diagnosisRd.diagnoses[0].code"),
    ("diagnosisRd", ["metaData", "submission", "date"], "2025-13-01",
     "metaData.submission.date"),
    ("diagnosisRd", ["metaData", "birthDate"], "2090-01", "metaData.birthDate"),
    ("diagnosisRd", ["metaData", "tanC"], "xyz", "metaData.tanC"),
    ("diagnosisRd", ["metaData", "mvConsent", "scope", 0, "type"], "maybe",
     "metaData.mvConsent.scope[0].type"),
    ("diagnosisOd", ["metaData", "submission", "diseaseType"], "common",
     "metaData.submission.diseaseType"),
])
def test_validate_clinical_record__bad_value_names_field(kind, path, value, field):
    record = copy.deepcopy(_first(kind))
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecordRejected) as caught:
        validate_clinical_record(record, source="r.json (record r)")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"r.json (record r): field {field}")


def test_validate_clinical_record__missing_case_and_research_consent_state():
    record = copy.deepcopy(_first("diagnosisRd"))
    assert validate_clinical_record(record, source="x").research_consented in (True, False)
    record["metaData"]["researchConsents"] = []
    assert validate_clinical_record(record, source="x").research_consented is False
    del record["case"]
    with pytest.raises(RecordRejected, match="field record: 'case' is a required property"):
        validate_clinical_record(record, source="x")


@pytest.fixture(scope="module")
def kdk_intake(tmp_path_factory):
    from genomlab.intake import register_world_nodes, request_world_case_numbers, run_kdk_intake
    from tests.conftest import config_for

    world = tmp_path_factory.mktemp("w") / "world"
    shutil.copytree(WORLD, world)
    config = config_for(tmp_path_factory.mktemp("kdk") / "home")
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    first = run_kdk_intake(config, [world / "kdk"])
    return config, world, first


def test_kdk_intake__all_records_finished_and_tables_keyed_by_pseudonym(kdk_intake):
    config, world, first = kdk_intake
    truth = json.loads((world / "truth.json").read_text())
    for node in truth["institutions"]["kdk"]:
        files = sorted((world / "kdk" / node / "records").glob("*.json"))
        assert {path: o.state for path, o in first[node].items()} == {
            str(p): "finished" for p in files}
        kdk = ClinicalNode(config, node)
        cases = kdk.read_table("cases")
        rows = {r["record_id"]: r for r in kdk.get_records()}
        assert all(rows[rid]["clinical_pseudonym"] == cp for rid, cp in
                   zip(cases["record_id"], cases["clinical_pseudonym"], strict=True))
        assert projection_matches(kdk.ledger, PROJECTION) == []
        assert kdk.ledger.verify().ok


STORES = ("consented", "nonconsented")


def _count_rows_by_store_and_table(kdk: ClinicalNode) -> dict[tuple[str, str], int]:
    """Rows of the cases and diagnoses tables in each of the node's two stores."""
    return {(s, t): kdk.read_table(t, store_name=s).height for s in STORES
            for t in ("cases", "diagnoses")}


def test_kdk_intake__rerun_duplicates_nothing_and_reused_tan_refused(kdk_intake, tmp_path):
    from genomlab.intake import run_kdk_intake

    config, world, _ = kdk_intake
    node = "KDKTUE005"
    kdk = ClinicalNode(config, node)
    before = _count_rows_by_store_and_table(kdk)
    assert set(before) == {(s, t) for s in STORES for t in ("cases", "diagnoses")}
    assert all(before.values())
    events = kdk.ledger.head()[0]
    again = run_kdk_intake(config, [world / "kdk" / node / "records"])
    assert {o.state for o in again[node].values()} == {"finished"}
    assert kdk.ledger.head()[0] == events
    assert _count_rows_by_store_and_table(kdk) == before
    source = sorted((world / "kdk" / node / "records").glob("*.json"))[0]
    reused = tmp_path / "reused-tan.json"
    record = json.loads(source.read_text())
    record["metaData"]["submission"]["date"] = "2025-13-01"
    reused.write_text(json.dumps(record))
    result = run_kdk_intake(config, [reused])
    outcome = result[node][str(reused)]
    assert (outcome.record_id, outcome.state) == (None, "refused")
    owner = again[node][str(source)].record_id
    assert outcome.message.startswith(f"reused-tan.json: field metaData.tanC: record {owner} "
                                      "(finished) already came from another file")
    assert kdk.ledger.head()[0] == events
    assert Path(config.home / "kdk" / node / "clinical" / "consented" / "cases.parquet").exists()


def test_kdk_intake__older_cases_table_loses_the_columns_it_no_longer_keeps(tmp_path):
    """An older home's ``cases.parquet`` (with submission date and type, coverage type and
    model-project consent, issue 21) is never read with them, and the next write drops them."""
    import polars as pl

    from genomlab.clinical_node.intake import CASE_SCHEMA
    from genomlab.clinical_node.store import get_table_path
    from genomlab.intake import register_world_nodes, request_world_case_numbers, run_kdk_intake
    from tests.conftest import config_for

    config = config_for(tmp_path / "home")
    register_world_nodes(config, WORLD, actor="test")
    request_world_case_numbers(config, WORLD)
    kdk = ClinicalNode(config, "KDKTUE005")
    path = get_table_path(kdk.institution.directory, "consented", "cases")
    path.parent.mkdir(parents=True)
    old = {"record_id": "old-1", "clinical_pseudonym": "CDP-old", "disease_type": "rare",
           "library_type": "wgs", "gender": "female", "birth_month": "1980-01", "ags5": "08416",
           "research_consented": True, "submission_date": "2025-03-04",
           "submission_type": "initial", "coverage_type": "GKV", "mv_sequencing": True}
    pl.DataFrame([old]).write_parquet(path)
    assert kdk.read_table("cases").columns == list(CASE_SCHEMA)

    run_kdk_intake(config, [WORLD / "kdk" / "KDKTUE005"])
    written = pl.read_parquet(path)
    assert written.columns == list(CASE_SCHEMA)
    assert written.filter(pl.col("record_id") == "old-1").height == 1
    assert written.height > 1
