"""The KDK's quarterly report beside the GRZ's: records, consent, revocations, deletions."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab import clock
from genomlab.cli import main
from genomlab.clinical_node.quarterly import compute_quarterly_tables, count_revocations
from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from genomlab.node_quarterly import count_revocations_and_deletions, get_quarter_bounds
from tests.conftest import config_for, copy_home, write_config_file

WORLD = Path(__file__).resolve().parents[2] / "data_samples" / "world"
KDK = "KDKTUE005"
RECEIVED = datetime(2026, 5, 11, 9, 0, tzinfo=UTC)
"""Intake runs on this clock (Q2/2026), never today's date."""


@pytest.fixture(scope="module")
def kdk_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenomlabConfig, dict[str, Any]]:
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
        run_kdk_intake,
    )

    world = tmp_path_factory.mktemp("w") / "world"
    shutil.copytree(WORLD, world)
    config = config_for(tmp_path_factory.mktemp("kdk-q") / "home")
    with clock.use_clock(clock.ticking_from(RECEIVED)):
        register_world_nodes(config, world, actor="test")
        request_world_case_numbers(config, world)
        record_world_consents(config, world)
        run_kdk_intake(config, [world / "kdk" / KDK / "records"], node_id=KDK)
    records = [json.loads(p.read_text())
               for p in sorted((world / "kdk" / KDK / "records").glob("*.json"))]
    return config, {"records": records}


def test_compute_quarterly_tables__kdk_quarter_counts_records_consent_and_disease(
        kdk_home: tuple[GenomlabConfig, dict[str, Any]]) -> None:
    config, world = kdk_home
    sent = world["records"]
    tables = compute_quarterly_tables(config, KDK, year=2026, quarter=2)
    overview = tables["overview"][0]
    assert overview["records"] == len(sent) > 0
    assert overview["validation_failed"] == 0
    for disease in ("oncological", "rare", "hereditary"):
        assert overview[disease] == sum(
            r["metaData"]["submission"]["diseaseType"] == disease for r in sent)
    assert overview["research_consented"] + overview["not_research_consented"] == len(sent)
    assert overview["research_consent_revocations"] == 0  # every person sent once
    assert overview["deletions"] == 0  # tracked (records.erased), none in the quarter
    assert len(tables["datasets"]) == len(sent)
    assert not any("pseudonym" in key or "record_id" in key for key in tables["datasets"][0])
    other = compute_quarterly_tables(config, KDK, year=2026, quarter=3)["overview"][0]
    assert (other["records"], other["research_consented"]) == (0, 0)


def test_kdk_report_cli__writes_two_tsvs_with_revocation_and_deletion_columns(
        kdk_home: tuple[GenomlabConfig, dict[str, Any]], tmp_path: Path) -> None:
    config, world = kdk_home
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")), "kdk", "report",
        "--node", KDK, "--year", "2026", "--quarter", "2", "--out", str(tmp_path / "q")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "q").glob("*.tsv"))
    assert names == [f"1-Gesamtübersicht_{KDK}_Q2_2026.tsv",
                     f"2-Infos_zu_Datensätzen_{KDK}_Q2_2026.tsv"]
    with (tmp_path / "q" / names[0]).open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))
    assert int(row["records"]) == len(world["records"])
    assert (row["research_consent_revocations"], row["deletions"]) == ("0", "0")


def _row(pseudonym: str, consented: bool, day: str, state: str = "finished") -> dict[str, Any]:
    return {"clinical_pseudonym": pseudonym, "research_consented": consented,
            "received_at": f"{day}T10:00:00+00:00", "state": state}


def test_count_revocations__later_record_without_consent_counts_in_its_quarter() -> None:
    rows = [_row("a", True, "2026-02-01"), _row("a", False, "2026-05-02"),
            _row("b", False, "2026-05-03"),  # never consented: no revocation
            _row("c", True, "2026-04-10"), _row("c", False, "2026-04-20", state="error"),
            _row("d", False, "2026-01-05"), _row("d", True, "2026-05-06")]  # consent given later
    assert count_revocations(rows, get_quarter_bounds(2026, 2)) == 1
    assert count_revocations(rows, get_quarter_bounds(2026, 1)) == 0


def test_count_revocations_and_deletions__grz_counts_withdrawals_recorded_in_quarter(
        config: GenomlabConfig) -> None:
    grz = GenomeCenter(config, "GRZK00001")
    for day in ("2026-05-02", "2026-05-20", "2026-08-01"):
        with clock.use_clock(clock.ticking_from(datetime.fromisoformat(f"{day}T09:00:00+00:00"))):
            grz.ledger.append("donor.research_withdrawn", {
                "inbox_id": f"inbox-{day}", "genome_pseudonym": f"GDP1-{day}"}, actor="grz")
    with clock.use_clock(clock.ticking_from(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))):
        for reason, digests in (("withdrawal", ["a" * 64]), ("deletion", ["b" * 64, "c" * 64]),
                                ("retention", ["d" * 64]), ("correction", ["e" * 64])):
            grz.ledger.append("donors.erased", {"digests": digests, "reason": reason,
                                                "stores": ["consented"]}, actor="grz")
    # revocations: 2 later submissions + 1 person a withdrawal erased; deletions: a Delete
    # request's 2 persons + 1 at the end of retention; a correction's erasure is neither
    assert count_revocations_and_deletions(grz.ledger, "grz", get_quarter_bounds(2026, 2)) == {
        "research_consent_revocations": 3, "deletions": 3}
    assert count_revocations_and_deletions(grz.ledger, "grz", get_quarter_bounds(2026, 3)) == {
        "research_consent_revocations": 1, "deletions": 0}


def _deny_research(node: Any) -> Any:
    """``node`` with every consent provision ``permit`` turned into ``deny``."""
    if isinstance(node, dict):
        return {k: ("deny" if k == "type" and v == "permit" else _deny_research(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_deny_research(v) for v in node]
    return node


def test_compute_quarterly_tables__follow_up_without_research_consent_is_a_revocation(
        kdk_home: tuple[GenomlabConfig, dict[str, Any]], tmp_path: Path) -> None:
    from genomlab.intake import get_case_book, run_kdk_intake
    from genomlab.trust_center.service import TrustCenter

    config = copy_home(kdk_home[0].home, tmp_path / "home")
    identity = {row["sample"]: row for tsv in sorted((WORLD / "hospitals").glob("*/*.tsv"))
                for row in csv.DictReader(tsv.read_text(encoding="utf-8").splitlines(),
                                          delimiter="\t")}
    samples = {s["tan_c"]: s for s in json.loads((WORLD / "truth.json").read_text())["samples"]
               if s.get("tan_c")}
    record = next(r for r in kdk_home[1]["records"]
                  if samples[r["metaData"]["tanC"]]["research_consent"] == "permit")
    person = identity[samples[record["metaData"]["tanC"]]["sample"]]
    follow_up_tan = "5e" * 32
    TrustCenter(config).register_case_numbers(
        kvnr=person["kvnr_unchangeable"], arbeitsnummer=f"{person['arbeitsnummer']}-FU",
        le_ik=person["hospital_ik"], le_name=person["hospital_name"], actor="le",
        clinical=follow_up_tan, submission_type="followup")
    # the LE's book: its TAN (the case number itself) → its own case label
    get_case_book(config, person["hospital_ik"]).add(
        {follow_up_tan: f"{person['arbeitsnummer']}-FU"})
    meta = record["metaData"]
    follow_up = {**record, "metaData": {
        **meta, "tanC": follow_up_tan, "submission": {**meta["submission"], "type": "followup"},
        "researchConsents": _deny_research(meta["researchConsents"])}}
    path = tmp_path / "follow-up.json"
    path.write_text(json.dumps(follow_up))
    with clock.use_clock(clock.ticking_from(datetime(2026, 8, 3, 9, 0, tzinfo=UTC))):
        outcome = run_kdk_intake(config, [path], node_id=KDK)[KDK][str(path)]
    assert outcome.state == "finished", outcome
    q3 = compute_quarterly_tables(config, KDK, year=2026, quarter=3)["overview"][0]
    assert (q3["records"], q3["not_research_consented"]) == (1, 1)
    assert q3["research_consent_revocations"] == 1
    q2 = compute_quarterly_tables(config, KDK, year=2026, quarter=2)["overview"][0]
    assert q2["research_consent_revocations"] == 0
