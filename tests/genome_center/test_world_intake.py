"""The committed world through intake: counts, refusals, consent split, stores, privacy, ledgers."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.clinical_node.store import PROJECTION as KDK_PROJECTION
from genomlab.genome_center.grz_record import GrzDb, get_grz_db_url
from genomlab.genome_center.intake import GenomeCenter
from genomlab.genome_center.store import PROJECTION as GRZ_PROJECTION
from genomlab.institution import existing_institutions
from genomlab.ledger import projection_matches
from tests.genome_center.conftest import EXPECTED_REASON, get_any_donor_field

pytestmark = [pytest.mark.hail, pytest.mark.slow]


def test_world_intake__valid_submissions_accepted_per_node(world_intake):
    truth = world_intake.truth
    for node in truth["institutions"]["grz"]:
        rows = GenomeCenter(world_intake.config, node).get_submissions()
        accepted = {r["inbox_id"] for r in rows if r["state"] != "error"}
        expected = {Path(s["path"]).name for s in truth["submissions"] if s["grz"] == node}
        assert accepted == expected
        assert all(r["state"] in ("finished", "qc_selected") for r in rows
                   if r["inbox_id"] in accepted)


def test_world_intake__bad_submissions_rejected_with_truth_reason_and_field(world_intake):
    rows = {r["inbox_id"]: r for node in world_intake.truth["institutions"]["grz"]
            for r in GenomeCenter(world_intake.config, node).get_submissions()}
    bad = world_intake.truth["bad_submissions"]
    assert {r for r, row in rows.items() if row["state"] == "error"} == {
        Path(b["path"]).name for b in bad}
    for entry in bad:
        row = rows[Path(entry["path"]).name]
        assert row["failure_reason"] == EXPECTED_REASON[entry["reason"]], entry
        assert get_any_donor_field(row["failure_field"]) == get_any_donor_field(entry["field"]), (
            entry)


def test_world_intake__grz_db_is_the_record_and_agrees_with_genomlab(world_intake):
    """grz-db holds every submission a GRZ took, basic QC passed, with genomlab's state and
    grz-db's selection for detailed QC (each submitter's first initial of a month selected);
    the reused tanG is grz-db's ``Error``/``duplicate_tang``."""
    truth = world_intake.truth
    for node in truth["institutions"]["grz"]:
        center = GenomeCenter(world_intake.config, node)
        grz_db = GrzDb(get_grz_db_url(center.institution.directory))
        taken = sorted((r for r in center.get_submissions() if r["state"] != "error"),
                       key=lambda r: (r["validated_at"], r["inbox_id"]))
        months: set[tuple[str, str]] = set()
        for row in taken:
            record = grz_db.get(row["submission_id"])
            assert record is not None, row["inbox_id"]
            assert record.basic_qc_passed is True
            assert bool(row["selected_for_qc"]) is (record.selected_for_qc is True)
            assert row["state"] == ("qc_selected" if record.selected_for_qc else "finished")
            latest = record.get_latest_state()
            assert latest is not None
            assert latest.state == ("Reported" if record.selected_for_qc else "Finished")
            if row["submission_type"] == "initial":
                month = (row["submitter_id"], row["submission_month"])
                assert record.selected_for_qc is True or month in months, row["inbox_id"]
                months.add(month)
    reused = [b for b in truth["bad_submissions"] if b["reason"] == "reused_tanG"]
    assert reused
    for entry in reused:
        meta = json.loads((world_intake.world / entry["path"] / "metadata" / "metadata.json")
                          .read_text())["submission"]
        sid = "_".join((meta["submitterId"], meta["submissionDate"],
                        hashlib.sha256(meta["tanG"].encode()).hexdigest()[:8]))
        grz = next(s["grz"] for s in truth["submissions"]
                   if s["submission_id"] == entry["derived_from"])
        record = GrzDb(get_grz_db_url(GenomeCenter(world_intake.config, grz)
                                      .institution.directory)).get(sid)
        assert record is not None
        latest = record.get_latest_state()
        assert latest is not None
        assert (latest.state, latest.failure_reason) == ("Error", "duplicate_tang")


def test_world_intake__relative_below_threshold_is_a_warning(world_intake):
    truth = world_intake.truth
    rows = {r["inbox_id"]: r for node in truth["institutions"]["grz"]
            for r in GenomeCenter(world_intake.config, node).get_submissions()}
    flagged = [s for s in truth["submissions"] if s.get("qc_below_threshold_relatives")]
    assert flagged
    for sub in flagged:
        row = rows[Path(sub["path"]).name]
        assert row["state"] != "error"
        for sample in sub["qc_below_threshold_relatives"]:
            assert f"donor '{sample}'" in row["warnings"]


def _consents_at(truth: dict, sample: str, day: str) -> bool:
    """What truth implies: research permit, not withdrawn on or before ``day``."""
    entry = next(c for c in truth["consents"] if c["sample"] == sample)
    return entry["research_consent"] == "permit" and not any(
        w["scope"] == "research" and w["date"] <= day for w in entry["withdrawals"])


def test_world_intake__consent_split_and_genotype_store(world_intake, hl):
    truth = world_intake.truth
    for node in truth["institutions"]["grz"]:
        grz = GenomeCenter(world_intake.config, node)
        donors = grz.get_donors()
        subs = [s for s in truth["submissions"] if s["grz"] == node]
        expected = Counter(_consents_at(truth, sample, sub["submission_id"].split("_")[1])
                           for sub in subs for sample in sub["samples"])
        assert Counter(bool(d["research_consented"]) for d in donors) == expected
        assert all(d["store"] == ("consented" if d["research_consented"] else "nonconsented")
                   for d in donors)
        withdrawn = {s for sub in subs for s in sub["samples"]
                     if not _consents_at(truth, s, sub["submission_id"].split("_")[1])}
        samples = {s for sub in subs for s in sub["samples"]
                   if _consents_at(truth, s, "0000")} - withdrawn
        consented = grz.read_genotypes(hl)
        in_store = set(consented.s.collect())
        assert len(in_store) == len(samples)
        assert len(grz.get_withdrawn()) == len(
            {s for s in withdrawn if _consents_at(truth, s, "0000")})
        assert in_store == {d["genome_pseudonym"] for d in donors if d["store"] == "consented"
                            } - grz.get_withdrawn()
        assert consented.count_rows() > 0
        picked = sorted(in_store)[:2]
        assert set(grz.read_genotypes(hl, pseudonyms=picked).s.collect()) == set(picked)
        others = set(grz.read_genotypes(hl, store_name="nonconsented").s.collect())
        assert others.isdisjoint(in_store)


def test_world_intake__clinical_records_stored_by_consent(world_intake):
    truth = world_intake.truth
    index = {s["kdk_record"]: s for s in truth["samples"] if s.get("kdk_record")}
    for node in truth["institutions"]["kdk"]:
        kdk = ClinicalNode(world_intake.config, node)
        records = kdk.get_records()
        files = {kdk.get_record_id(  # records are keyed by a keyed hash of their tanC
            json.loads((world_intake.world / p).read_text())["metaData"]["tanC"]): s
            for p, s in index.items() if s["kdk"] == node}
        assert {r["record_id"] for r in records if r["state"] == "finished"} == set(files)
        consented = kdk.read_table("cases")
        expected = {rid for rid, s in files.items() if s["research_consent"] == "permit"}
        assert set(consented["record_id"].to_list()) == expected
        assert set(kdk.read_table("cases", store_name="nonconsented")["record_id"]
                   .to_list()) == set(files) - expected


def _file_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    """Every file the nodes keep, except their inboxes.

    A node's ``inbox/`` holds submissions as the hospital sent them (BfArM's metadata names the
    patient by the hospital's Arbeitsnummer in its FHIR consent and carries the case number);
    refused ones wait there for the hospital's correction. Accepted ones leave the inbox for
    ``archive/`` with the case number blanked (scanned here like the stores).
    """
    return [(p, p.read_bytes()) for p in folder.rglob("*")
            if p.is_file() and "inbox" not in p.relative_to(folder).parts]


def test_world_intake__stores_hold_no_foreign_pseudonym_or_identity(world_intake):
    config, truth = world_intake.config, world_intake.truth
    genome = {d["genome_pseudonym"] for n in truth["institutions"]["grz"]
              for d in GenomeCenter(config, n).get_donors()}
    clinical = {r["clinical_pseudonym"] for n in truth["institutions"]["kdk"]
                for r in ClinicalNode(config, n).get_records() if r["clinical_pseudonym"]}
    identity = {s[k] for s in truth["samples"] for k in ("kvnr", "arbeitsnummer", "tan_c",
                                                         "tan_g") if s.get(k)}
    grz_files = _file_bytes(config.home / "grz")
    kdk_files = _file_bytes(config.home / "kdk")
    assert any(g.encode() in data for _, data in grz_files for g in list(genome)[:3])
    assert any(c.encode() in data for _, data in kdk_files for c in list(clinical)[:3])
    # grz-db is BfArM's record and holds what grzctl's holds on the grzctl path: each
    # submission's tanG and its metadata, whose consents name the hospital's patient
    # (``Patient/<Arbeitsnummer>``); no KVNR, tanC or clinical pseudonym
    in_grz_db = {s[k] for s in truth["samples"] for k in ("arbeitsnummer", "tan_g")
                 if s.get(k)} | {"Patient/AN-"}
    assert any(path.name == "grz-db.sqlite" for path, _ in grz_files)
    for path, data in grz_files:
        exempt = in_grz_db if path.name == "grz-db.sqlite" else set()
        for value in (clinical | identity | {"Patient/AN-"}) - exempt:
            assert value.encode() not in data, (path, value)
    for path, data in kdk_files:
        for value in genome | identity | {"Patient/AN-"}:
            assert value.encode() not in data, (path, value)


def test_world_intake__ledgers_verify_and_projections_match(world_intake):
    config, truth = world_intake.config, world_intake.truth
    for inst in existing_institutions(config):
        assert inst.ledger().verify().ok, inst.name
    for node in truth["institutions"]["grz"]:
        assert projection_matches(GenomeCenter(config, node).ledger, GRZ_PROJECTION) == []
    for node in truth["institutions"]["kdk"]:
        assert projection_matches(ClinicalNode(config, node).ledger, KDK_PROJECTION) == []


def test_world_intake__every_accepted_dataset_has_a_verifiable_meldebestaetigung(world_intake):
    from genomlab.platform.confirmations import (
        get_confirmation_public_key_pem,
        verify_confirmation_bytes,
    )

    config, truth = world_intake.config, world_intake.truth
    pem = get_confirmation_public_key_pem(config)
    bodies = [verify_confirmation_bytes(p.read_bytes(), pem)
              for p in sorted((config.home / "hospitals").glob("*/meldebestaetigungen/*.json"))]
    categories = Counter(b["data_category"] for b in bodies)
    n_records = sum(1 for s in truth["samples"] if s.get("kdk_record"))
    failed = [b for b in truth["bad_submissions"] if b["reason"] != "reused_tanG"]
    assert categories == {"genomic": len(truth["submissions"]) + len(failed),
                          "clinical": n_records}
    assert sum(not b["complete"] for b in bodies) == len(failed)
    assert all(b["submitter_id"] in {h["ik"] for h in truth["institutions"]["hospitals"]}
               for b in bodies)


@pytest.mark.notebook
def test_quarterly_report_notebook__runs_under_papermill(world_intake, run_notebook, tmp_path):
    import csv

    import nbformat

    from tests.conftest import write_config_file

    config, truth = world_intake.config, world_intake.truth
    cfg = write_config_file(config, tmp_path / "genomlab.toml")
    first = min(s["submission_id"].split("_")[1] for s in truth["submissions"]
                if s["grz"] == "GRZK00001")
    year, quarter = int(first[:4]), (int(first[5:7]) - 1) // 3 + 1
    out = run_notebook("quarterly_report.ipynb", config_path=str(cfg), node_id="GRZK00001",
                       year=year, quarter=quarter, out_dir=str(tmp_path / "q"))
    outputs = "".join(str(o) for c in nbformat.read(out, 4).cells for o in c.get("outputs", []))
    from genomlab.genome_center.grzctl_pipeline import read_grzctl_quarterly

    tables = read_grzctl_quarterly(tmp_path / "q", "GRZK00001", year, quarter)  # grzctl's
    months = {f"{year}-{3 * quarter - 2 + i:02d}" for i in range(3)}
    expected = sum(1 for s in truth["submissions"] if s["grz"] == "GRZK00001"
                   and s["submission_id"].split("_")[1][:7] in months)
    accepted = {r["submission_id"]: r for r in GenomeCenter(config, "GRZK00001").get_submissions()
                if r["state"] != "error" and r["submission_month"] in months}
    passed = {r["submission_id"]: r for r in tables["datasets"]
              if r["data_quality_check_passed"] == "yes"}
    assert sorted(passed) == sorted(accepted)
    assert len(passed) == expected > 0
    for sid, row in passed.items():
        assert (row["submissionType"], row["diseaseType"], row["coverageType"]) == (
            accepted[sid]["submission_type"], accepted[sid]["disease_type"],
            accepted[sid]["coverage_type"]), sid
    assert sum(int(r["number_of_submissions_total"]) for r in tables["overview"]) == len(
        tables["datasets"])
    assert "3-Detailpr" in outputs
    (withdrawals,) = csv.DictReader((next((tmp_path / "q").glob("4-genomlab_*"))).open(),
                                    delimiter="\t")
    assert withdrawals["grz"] == "GRZK00001"
    assert len(list((tmp_path / "q").glob("*.tsv"))) == 4
