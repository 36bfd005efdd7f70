"""Meldebestätigung as hospitals and insurers receive it: IBE layout, CSV, billing status."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grz_pydantic_models_testing.example_pruefberichte as examples
import pytest
from click.testing import CliRunner

from genomlab import clock
from genomlab.cli import main
from genomlab.errors import ConflictError, ValidationFailed
from genomlab.intake import make_platform_reporter
from genomlab.ledger import projection_matches
from genomlab.platform.billing import get_confirmation_status, record_billing
from genomlab.platform.confirmations import (
    confirmation_bytes,
    get_confirmation_public_key_pem,
    receive_pruefbericht,
)
from genomlab.platform.mb_delivery import get_hospital_mb_csv
from genomlab.platform.mb_format import MB_FIELDS, parse_ibe_string, parse_mb_csv
from genomlab.platform.nodes import NODE_PROJECTION, NodeRegistry
from tests.conftest import write_config_file

EXAMPLE = json.loads(importlib.resources.files(examples)
                     .joinpath("submission_example.json").read_text())
NODE = EXAMPLE["SubmittedCase"]["dataNodeId"]
HOSPITAL, OTHER_HOSPITAL, INSURER = "260530103", "260840108", "108310400"
START = datetime(2026, 1, 22, 9, 0, tzinfo=UTC)
"""The platform's clock in these tests: one day, so the day's counter is what is tested (not
the machine's date; the shifted-clock pass starts 30 minutes before a midnight)."""

# The five rows of okohlbacher/genomde_mbcheck @ f4bd8c6e, Examples/Meldebestaetigung_*.csv
# (comma-separated there; BfArM's real-format strings with test ids).
PUBLIC_EXAMPLES_CSV = """Vorgangsnummer,Meldebestaetigung
e39688294d88138b860d5d85d62f9f5602611fa3173a7fb6a537c7ed4b5191e8,IBE+W8C2MM72VD+W8C2MM72VD&20260122001&000000000&000000000&0&O&9&1&C&3&1+9+b1eb3ad83f4ea3efe014a0e4f3ae2ef359fa8100adef777be0f6cfc40ff520d7
fae35a70a6a7ac9380e6d7e680070e13e9fb900ab15f955eab593a3c80af642f,IBE+DIL5WZ3V8O+DIL5WZ3V8O&20260122002&000000000&000000000&0&O&9&1&C&3&1+9+c25df25a95ae07070445672336fea8049c310d9e2b7e847b8e85b14781958328
7c855d321f869f0656c33b18741d54d93fdcca7112f6bb24ceb70ce3739ba6d3,IBE+XMOZ917R1B+XMOZ917R1B&20260122003&000000000&000000000&0&O&9&1&C&3&1+9+ae23f4e7b5f954bf37908b52df2fb95ee0869ffdb45421d2e35e598e9d45bfae
c05e26610ec3682bd1e0b0bfe4edd02d5407b0497cde0fcba227f4564004abe2,IBE+7GOK6L33N6+7GOK6L33N6&20260122004&000000000&000000000&0&O&9&1&C&3&1+9+cd39c2ce0178dca2b261e98040d7a626d1762bfee75fa4c3b7bd91ebee1b5995
b31bb6c8fe6d1566704ee34a8140600c0f3c051d3fd94e26ea9d432ecc686f02,IBE+1N4I391IHS+1N4I391IHS&20260122005&000000000&000000000&0&O&9&1&C&3&1+9+0241af4ce0f96120d99128d3092f6f6b9387c979fa9d7cdd1c32e6d73d2c6a28
"""

# genomde_mbcheck Meldebestaetigung.py lines 74-84: name and width of the eleven fields.
PUBLIC_LAYOUT = [("alphanumerischer_code", 10), ("leistungsdatum_zaehler", 11),
                 ("leistungserbringer_id", 9), ("datenknoten_id", 9), ("meldungstyp", 1),
                 ("indikationsbereich", 1), ("produktzuordnung", 1), ("kostentraeger", 1),
                 ("art_der_daten", 1), ("art_der_sequenzierung", 1), ("qualitaetskontrolle", 1)]


def _mvh_copy_mb_fields(ibe: str) -> dict[str, str]:
    """What MHH-Humangenetik/mvh_copy_mb (cli.py lines 95-130) reads: the third '+' segment split
    at '&', indices 4, 5, 8 and 10 (an independent reading, not genomlab's parser)."""
    parts = ibe.split("+")[2].split("&")
    return {"Typ der Meldung": parts[4], "Indikationsbereich": parts[5],
            "Art der Daten": parts[8], "Ergebnis QC": parts[10]}


def _report(tan: str, submitter: str = HOSPITAL, **changes: object) -> dict:
    return {"SubmittedCase": {**EXAMPLE["SubmittedCase"], "tan": tan, "submitterId": submitter,
                              **changes}}


@pytest.fixture(autouse=True)
def _platform_clock() -> Iterator[None]:
    with clock.use_clock(clock.ticking_from(START)):
        yield


@pytest.fixture
def approved(config):
    registry = NodeRegistry(config)
    registry.ensure_approved(NODE, name="KDK example", actor="op")
    return registry


def test_mb_fields__layout_matches_the_public_parser():
    assert [(f.name, f.width) for f in MB_FIELDS] == PUBLIC_LAYOUT


def test_parse_mb_csv__public_parser_examples_field_by_field():
    rows = parse_mb_csv(PUBLIC_EXAMPLES_CSV, source="Examples")
    assert [parsed.zaehler for _, parsed in rows] == [1, 2, 3, 4, 5]
    vn, first = rows[0]
    assert vn.startswith("e39688294d88")
    assert first.ibe_id == first.fields["alphanumerischer_code"] == "W8C2MM72VD"
    assert (first.leistungsdatum, first.fields["meldungstyp"], first.fields["indikationsbereich"],
            first.fields["produktzuordnung"], first.fields["kostentraeger"],
            first.fields["art_der_daten"], first.fields["art_der_sequenzierung"],
            first.fields["qualitaetskontrolle"], first.trailer_produkt) == (
        "2026-01-22", "0", "O", "9", "1", "C", "3", "1", "9")


def test_parse_ibe_string__bad_field_or_hash_named():
    ibe = PUBLIC_EXAMPLES_CSV.splitlines()[1].split(",")[1]
    with pytest.raises(ValidationFailed, match="field qualitaetskontrolle"):
        parse_ibe_string(ibe.replace("&C&3&1+", "&C&3&7+"))
    with pytest.raises(ValidationFailed, match="field hash"):
        parse_ibe_string(ibe.replace("&C&3&1+", "&C&3&0+"))  # a valid code, but not signed off
    with pytest.raises(ValidationFailed, match="field datenknoten_id"):
        parse_ibe_string(ibe.replace("&000000000&0&", "&00000000&0&"))


def test_get_hospital_mb_csv__platform_confirmations_in_the_public_layout(config, approved):
    report = make_platform_reporter(config, NODE)
    tans = [f"{n:02x}" * 32 for n in (1, 2, 3)]
    report(_report(tans[0]))
    report(_report(tans[1], dataQualityCheckPassed=False))
    report(_report("ee" * 32, submitter=OTHER_HOSPITAL))
    report(_report(tans[2], submissionType="test", coverageType="PKV", libraryType="wgs"))
    text = get_hospital_mb_csv(config, HOSPITAL)
    assert text.splitlines()[0] == "Vorgangsnummer;Meldebestaetigung"
    rows = parse_mb_csv(text, source="csv")
    assert [vn for vn, _ in rows] == tans
    assert [p.fields["leistungsdatum_zaehler"] for _, p in rows] == [
        "20260122001", "20260122002", "20260122003"]
    assert [_mvh_copy_mb_fields(line.split(";")[1]) for line in text.splitlines()[1:]] == [
        {"Typ der Meldung": "0", "Indikationsbereich": "O", "Art der Daten": "C",
         "Ergebnis QC": "1"},
        {"Typ der Meldung": "0", "Indikationsbereich": "O", "Art der Daten": "C",
         "Ergebnis QC": "0"},
        {"Typ der Meldung": "9", "Indikationsbereich": "O", "Art der Daten": "C",
         "Ergebnis QC": "1"}]
    last = rows[2][1].fields
    assert (last["leistungserbringer_id"], last["datenknoten_id"], last["kostentraeger"],
            last["art_der_sequenzierung"]) == (HOSPITAL, NODE, "2", "1")
    other = parse_mb_csv(get_hospital_mb_csv(config, OTHER_HOSPITAL), source="csv")
    assert other[0][1].fields["leistungsdatum_zaehler"] == "20260122001"


def test_receive_pruefbericht__corrected_report_gets_the_next_counter(config, approved):
    failed = receive_pruefbericht(config, NODE, _report("aa" * 32, dataQualityCheckPassed=False),
                                  actor="n")
    corrected = receive_pruefbericht(config, NODE, _report("aa" * 32), actor="n")
    later = receive_pruefbericht(config, NODE, _report("bb" * 32), actor="n")
    counters = [parse_ibe_string(d.body["ibe_string"]).zaehler
                for d in (failed, corrected, later)]
    assert counters == [1, 2, 3]
    assert projection_matches(approved.ledger, NODE_PROJECTION) == []


def test_record_billing__second_billing_of_the_same_confirmation_refused(config, approved):
    document = receive_pruefbericht(config, NODE, _report("cc" * 32), actor="n")
    code = parse_ibe_string(document.body["ibe_string"]).ibe_id
    assert get_confirmation_status(config, code)["status"] == "billable"
    record_billing(config, code, insurer_ik=INSURER, actor="kk")
    with pytest.raises(ConflictError, match="already billed"):
        record_billing(config, document.body["confirmation_id"], insurer_ik="109519005",
                       actor="other-kk")
    status = get_confirmation_status(config, code)
    assert (status["status"], INSURER in status["reason"]) == ("already_billed", True)
    assert len(list(approved.ledger.events(type="confirmation.billed"))) == 1
    assert projection_matches(approved.ledger, NODE_PROJECTION) == []


def test_get_confirmation_status__failed_test_and_replaced_not_billable(config, approved):
    failed = receive_pruefbericht(config, NODE, _report("dd" * 32, dataQualityCheckPassed=False),
                                  actor="n")
    test = receive_pruefbericht(config, NODE, _report("ab" * 32, submissionType="test"),
                                actor="n")
    assert get_confirmation_status(config, failed.body["confirmation_id"])["reason"] == \
        "quality check failed"
    assert get_confirmation_status(config, test.body["confirmation_id"])["status"] == \
        "not_billable"
    receive_pruefbericht(config, NODE, _report("dd" * 32), actor="n")  # the corrected report
    assert get_confirmation_status(config, failed.body["confirmation_id"])["status"] == "revoked"
    for document in (failed, test):
        with pytest.raises(ValidationFailed):
            record_billing(config, document.body["confirmation_id"], insurer_ik=INSURER,
                           actor="kk")
    assert list(approved.ledger.events(type="confirmation.billed")) == []


def test_verify_confirmation_cli__not_billable_exits_nonzero(config, approved, tmp_path: Path):
    key = tmp_path / "platform.pub.pem"
    key.write_bytes(get_confirmation_public_key_pem(config))
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    runner = CliRunner()
    outcomes = {}
    for name, report in {"ok": _report("01" * 32),
                         "failed": _report("02" * 32, dataQualityCheckPassed=False),
                         "test": _report("03" * 32, submissionType="test")}.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(confirmation_bytes(receive_pruefbericht(config, NODE, report,
                                                                 actor="n")))
        result = runner.invoke(main, ["--config", str(cfg), "platform", "verify-confirmation",
                                      str(path), "--public-key", str(key)])
        outcomes[name] = (result.exit_code, result.output.strip().splitlines()[-1])
    assert outcomes["ok"][0] == 0
    assert outcomes["ok"][1].startswith("valid:")
    assert outcomes["failed"][0] == 1
    assert "not billable: quality check failed" in outcomes[
        "failed"][1]
    assert outcomes["test"][0] == 1
    assert "not billable: test submission" in outcomes["test"][1]


def test_bill_confirmation_cli__second_billing_exits_nonzero(config, approved, tmp_path: Path):
    document = receive_pruefbericht(config, NODE, _report("04" * 32), actor="n")
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    runner = CliRunner()
    run = ["--config", str(cfg), "platform", "bill-confirmation",
           document.body["confirmation_id"], "--insurer", INSURER]
    assert runner.invoke(main, run).exit_code == 0
    again = runner.invoke(main, run)
    assert again.exit_code == 1
    assert "already billed" in again.output
    status = runner.invoke(main, ["--config", str(cfg), "platform", "confirmation-status",
                                  document.body["confirmation_id"]])
    assert status.exit_code == 1
    assert "already_billed" in status.output
