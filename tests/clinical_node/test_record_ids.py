"""KDK records are keyed by a keyed hash of the tanC: nothing lost, collisions refused loudly."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli_context import CliContext
from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.store import PROJECTION
from genomlab.intake.cli import kdk
from genomlab.ledger import projection_matches
from tests.conftest import REPO, config_for, write_config_file

WORLD = REPO / "data_samples" / "world"
NODE = "KDKTUE005"
RECORDS = sorted((WORLD / "kdk" / NODE / "records").glob("*.json"))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home whose trust centre knows the world's case numbers; no record submitted yet.

    Each test submits records of its own (``RECORDS[i]``), so the tests share the home.
    """
    from genomlab.intake import register_world_nodes, request_world_case_numbers

    config = config_for(tmp_path_factory.mktemp("kdk-ids") / "home")
    register_world_nodes(config, WORLD, actor="test")
    request_world_case_numbers(config, WORLD)
    return config


def _place(source: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, folder / name))


def _count_records_and_cases(node: ClinicalNode) -> tuple[int, int]:
    return len(node.get_records()), sum(node.read_table("cases", store_name=s).height
                                        for s in ("consented", "nonconsented"))


def test_submit__two_files_with_one_name_in_one_run_both_stored(home, tmp_path):
    from genomlab.intake import run_kdk_intake

    node = ClinicalNode(home, NODE)
    before = _count_records_and_cases(node)
    files = [_place(RECORDS[0], tmp_path / "a", "x.json"),
             _place(RECORDS[1], tmp_path / "b", "x.json")]
    result = run_kdk_intake(home, files)
    assert _count_records_and_cases(node) == (before[0] + 2, before[1] + 2)
    outcomes = [result[NODE][str(f)] for f in files]
    assert [o.state for o in outcomes] == ["finished", "finished"]
    assert len({o.record_id for o in outcomes}) == 2
    assert projection_matches(node.ledger, PROJECTION) == []


def test_submit__new_patient_reusing_an_old_file_name_is_stored(home, tmp_path):
    from genomlab.intake import run_kdk_intake

    node = ClinicalNode(home, NODE)
    before = _count_records_and_cases(node)
    run_kdk_intake(home, [_place(RECORDS[2], tmp_path / "first", "y.json")])
    later = _place(RECORDS[3], tmp_path / "later", "y.json")
    result = run_kdk_intake(home, [later])
    assert _count_records_and_cases(node) == (before[0] + 2, before[1] + 2)
    assert result[NODE][str(later)].state == "finished"


def test_submit__record_id_keyed_hash_of_tanc_not_file_name(home, tmp_path):
    from genomlab.intake import run_kdk_intake

    node = ClinicalNode(home, NODE)
    tan_c = json.loads(RECORDS[4].read_text())["metaData"]["tanC"].lower()
    first = run_kdk_intake(home, [RECORDS[4]])[NODE][str(RECORDS[4])]
    assert first.record_id == node.get_record_id(tan_c)
    assert RECORDS[4].stem not in first.record_id
    assert tan_c[:16] not in first.record_id
    head = node.ledger.head()
    renamed = _place(RECORDS[4], tmp_path, "renamed.json")  # the same file under another name
    again = run_kdk_intake(home, [renamed])[NODE][str(renamed)]
    assert (again.record_id, again.state) == (first.record_id, "finished")
    assert node.ledger.head() == head


def test_kdk_submit__malformed_file_with_a_finished_records_tanc_refused(home, tmp_path):
    from genomlab.intake import run_kdk_intake

    node = ClinicalNode(home, NODE)
    source = _place(RECORDS[5], tmp_path / "ok", "z.json")
    run_kdk_intake(home, [source])
    rows = {r["tan_hash"]: r for r in node.get_records()}
    record = json.loads(source.read_text())
    finished = rows[hashlib.sha256(record["metaData"]["tanC"].lower().encode()).hexdigest()]
    assert finished["state"] == "finished"
    head = node.ledger.head()
    record["metaData"]["submission"]["date"] = "2025-13-01"
    bad = tmp_path / "bad" / "z.json"  # the same name, the same tanC, broken content
    bad.parent.mkdir()
    bad.write_text(json.dumps(record))
    context = CliContext(write_config_file(home, tmp_path / "genomlab.toml"))
    run = CliRunner().invoke(kdk, ["submit", str(bad)], obj=context)
    assert run.exit_code != 0
    assert (f"z.json: field metaData.tanC: record {finished['record_id']} (finished) "
            "already came from another file") in run.output
    assert node.ledger.head() == head
    assert {r["tan_hash"]: r for r in node.get_records()} == rows


TWO_TANS = ('{"metaData": {"tanC": "' + "a" * 64 + '", "tanC": "' + "b" * 64 + '"}}').encode()


@pytest.mark.parametrize(("name", "data", "field", "detail"), [
    ("latin1.json", "{\"metaData\": {\"tanC\": \"K\u00f6ln\"}}".encode("latin-1"), "record",
     "not UTF-8"),
    ("deep.json", b"[" * 200_000 + b"]" * 200_000, "record", "nested 200000 levels"),
    ("no-tan.json", b"{\"metaData\": {}}", "metaData.tanC", "not a valid tanC"),
    ("two-tans.json", TWO_TANS, "metaData.tanC", "duplicate key 'tanC'"),
])
def test_submit__unreadable_file_refused_without_a_record(home, tmp_path, name, data, field,
                                                          detail):
    node = ClinicalNode(home, NODE)
    path = tmp_path / name
    path.write_bytes(data)
    head = node.ledger.head()
    from genomlab.intake import get_pseudonym_service

    outcome = node.submit([path], get_pseudonym_service(home),
                          reporter=lambda _: pytest.fail("nothing to report"))[str(path)]
    assert (outcome.record_id, outcome.state) == (None, "refused")
    assert outcome.message.startswith(f"{name}: field {field}: ")
    assert detail in outcome.message
    assert "\n" not in outcome.message
    assert node.ledger.head() == head


def test_submit__release2_row_named_after_the_file_resumes(home, tmp_path):
    """A home of release 2 keyed records by file name: such a row is resumed by its file."""
    from genomlab.intake import run_kdk_intake

    node = ClinicalNode(home, NODE)
    node.begin(RECORDS[6].stem)  # what release 2 recorded first, before a crash
    outcome = run_kdk_intake(home, [RECORDS[6]])[NODE][str(RECORDS[6])]
    assert (outcome.record_id, outcome.state) == (RECORDS[6].stem, "finished")
    assert projection_matches(node.ledger, PROJECTION) == []


def test_submit__corrected_file_after_a_failed_record_goes_through(home, tmp_path):
    from genomlab.intake import run_kdk_intake

    node = ClinicalNode(home, NODE)
    record = json.loads(RECORDS[7].read_text())
    record["metaData"]["submission"]["date"] = "2025-13-01"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(record))
    failed = run_kdk_intake(home, [broken])[NODE][str(broken)]
    assert failed.state == "error"
    head = node.ledger.head()
    assert run_kdk_intake(home, [broken])[NODE][str(broken)] == failed  # again: nothing new
    assert node.ledger.head() == head
    corrected = run_kdk_intake(home, [RECORDS[7]])[NODE][str(RECORDS[7])]
    assert (corrected.record_id, corrected.state) == (f"{failed.record_id}-2", "finished")
