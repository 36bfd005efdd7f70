"""A GenDV § 5 correction at a KDK replaces the person's record instead of adding one beside it.

One module-wide copy of the session's world intake: the treating LE requests a correction case
number at the trust centre and sends the corrected record (another main diagnosis) with it; the
KDK's tables then hold only the corrected record of the person.
"""

from __future__ import annotations

import csv
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.store import PROJECTION, TABLES
from genomlab.config import GenomlabConfig
from genomlab.intake import get_case_book, run_kdk_intake
from genomlab.ledger import projection_matches
from genomlab.trust_center.service import TrustCenter
from tests.conftest import WorldIntake, copy_home

pytestmark = pytest.mark.hail  # the session's world intake stores genotypes with Hail


@dataclass(frozen=True)
class Corrected:
    config: GenomlabConfig
    kdk: str
    old_record: str
    new_record: str
    pseudonym: str
    n_before: dict[str, int]
    old_code: str


def _identity(world: Path, sample: str) -> dict[str, str]:
    for tsv in sorted((world / "hospitals").glob("*/case_numbers_request.tsv")):
        with tsv.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row["sample"] == sample:
                    return row
    raise AssertionError(f"{sample}: no identity row in the world's hospitals")


@pytest.fixture(scope="module")
def corrected(world_intake: WorldIntake, tmp_path_factory: pytest.TempPathFactory) -> Corrected:
    home = tmp_path_factory.mktemp("kdk-correction")
    config = copy_home(world_intake.config.home, home / "home")
    sample = next(s for s in world_intake.truth["samples"]
                  if s.get("tan_c") and s["disease_type"] == "oncological"
                  and s["research_consent"] == "permit")
    node = ClinicalNode(config, sample["kdk"])
    [old] = [r for r in node.get_records() if r["record_id"] == node.get_record_id(
        sample["tan_c"])]
    n_before = {t: node.read_table(t, pseudonyms=[old["clinical_pseudonym"]]).height
                for t in TABLES}

    person = _identity(world_intake.world, sample["sample"])
    tan_c = secrets.token_hex(32)  # the LE's TAN is the case number (one number, issue 18)
    TrustCenter(config).register_case_numbers(
        kvnr=person["kvnr_unchangeable"], arbeitsnummer=person["arbeitsnummer"],
        le_ik=person["hospital_ik"], le_name=person["hospital_name"],
        actor=f"le:{person['hospital_ik']}", clinical=tan_c, submission_type="correction")
    get_case_book(config, person["hospital_ik"]).add({tan_c: person["arbeitsnummer"]})
    record: dict[str, Any] = json.loads((world_intake.world / sample["kdk_record"]).read_text())
    record["metaData"]["tanC"] = tan_c
    record["metaData"]["submission"]["type"] = "correction"
    diagnosis = record["case"]["diagnosisOd"]
    old_code = diagnosis["mainDiagnosis"]["code"]
    assert old_code != "C99.9"
    diagnosis["mainDiagnosis"]["code"] = diagnosis["topography"]["code"] = "C99.9"
    path = home / "corrected.json"
    path.write_text(json.dumps(record))
    [outcome] = run_kdk_intake(config, [path], node_id=sample["kdk"])[sample["kdk"]].values()
    assert outcome.state == "finished", outcome.message
    assert outcome.record_id is not None
    return Corrected(config, sample["kdk"], old["record_id"], outcome.record_id,
                     old["clinical_pseudonym"], n_before, old_code)


def test_submit__correction_replaces_the_records_rows(corrected: Corrected) -> None:
    node = ClinicalNode(corrected.config, corrected.kdk)
    for table in TABLES:
        rows = node.read_table(table, pseudonyms=[corrected.pseudonym])
        assert set(rows["record_id"]) == {corrected.new_record}, table
        assert rows.height == corrected.n_before[table], table
        assert corrected.old_record not in set(node.read_table(table)["record_id"]), table
    codes = set(node.read_table("diagnoses", pseudonyms=[corrected.pseudonym])["code"])
    assert "C99.9" in codes
    assert corrected.old_code not in codes


def test_submit__correction_keeps_one_record_of_the_person(corrected: Corrected) -> None:
    node = ClinicalNode(corrected.config, corrected.kdk)
    mine = [r["record_id"] for r in node.get_records()
            if r["clinical_pseudonym"] == corrected.pseudonym]
    assert mine == [corrected.new_record]
    assert projection_matches(node.ledger, PROJECTION) == []
    erased = [e.payload for e in node.ledger.events() if e.type == "records.erased"]
    assert erased == [{"record_ids": [corrected.old_record], "reason": "correction"}]
