"""A generated world through BfArM's own tools (issue 17's acceptance, on a part of a world).

One shared set-up: a 20-patient world with detailed-QC reads (seed 3, the smallest the generator
plants every fault in; ≈ 7 s), and :func:`run_world_official_intake` over a part of it that
holds every kind of case: the three inflated submissions, every planted bad one, the original
of the reused tanG and one honest submission of each GRZ that has none yet. Hospitals send with
``grz-cli submit`` into each GRZ's moto inbox; grzctl downloads, decrypts, validates, selects
(``should-qc``), runs detailed QC, archives; genomlab stores; grzctl's Prüfbericht goes to the
platform's API over HTTPS; the Meldebestätigung is filed; grzctl cleans. Then a second run on
the same home, which must send nothing again and append nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.genome_center.grz_record import GrzDb
from genomlab.genome_center.intake import GenomeCenter
from genomlab.institution import Institution, existing_institutions
from genomlab.intake.official import (
    OfficialIntake,
    find_official_tools,
    run_world_official_intake,
)
from genomlab.platform.confirmations import tan_hash
from genomlab.platform.node_projection import confirmations_table
from genomlab.platform.store import read_platform
from genomlab.samples import generate_world, load_truth
from tests.conftest import REPO, config_for

pytestmark = [
    pytest.mark.hail, pytest.mark.slow, pytest.mark.tools,
    pytest.mark.timeout(2400),  # one grzctl process per step: ≈ 90 of them, 2–7 s each
    pytest.mark.skipif(bool(os.environ.get("PYTEST_POSTGRES")),
                       reason="grz-db is SQLite; nothing to add for PostgreSQL"),
]

REFUSAL = {
    # truth reason -> (the refusing tool, phrases its message must hold)
    "schema_violation": ("grz-cli submit", ("Invalid metadata", "genomicDataCenterId")),
    "checksum_mismatch": ("grz-cli submit", ("File validation failed", "Checksum mismatch")),
    "below_threshold_coverage": ("grz-cli submit", ("Mean depth of coverage",
                                                    "below threshold")),
    "reused_tanG": ("grzctl download", ("duplicate_tang",)),
}


@dataclass
class Setting:
    config: GenomlabConfig
    world: Path
    truth: dict[str, Any]
    chosen: list[str]
    run: OfficialIntake
    seconds: float
    heads: dict[str, Any]
    rerun: OfficialIntake
    rerun_seconds: float


def choose_paths(truth: dict[str, Any]) -> list[str]:
    """The inflated submissions, the planted bad ones, the reused tanG's original and the first
    honest initial submission of each GRZ that has no honest one chosen yet."""
    by_id = {s["submission_id"]: s for s in truth["submissions"]}
    inflated = {x["path"] for x in truth["inflated_submissions"]}
    chosen = set(inflated)
    chosen |= {b["path"] for b in truth["bad_submissions"]}
    chosen |= {by_id[b["derived_from"]]["path"] for b in truth["bad_submissions"]
               if b["reason"] == "reused_tanG"}
    for grz in truth["institutions"]["grz"]:
        own = sorted((s for s in truth["submissions"] if s["grz"] == grz
                      and s["path"] not in inflated), key=lambda s: s["submission_id"])
        if own and not any(s["path"] in chosen for s in own):
            chosen.add(next(s for s in own if s["type"] == "initial")["path"])
    return sorted(chosen)


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Setting:
    tools, missing = find_official_tools([REPO], environ={
        "GENOMLAB_GRZ_CLI": os.environ.get("PYTEST_GRZ_CLI", ""),
        "GENOMLAB_GRZCTL": os.environ.get("PYTEST_GRZCTL", "")})
    qc_missing = [t for t in ("fastp", "bwa", "samtools", "mosdepth") if shutil.which(t) is None]
    if tools is None or qc_missing:
        why = "; ".join([*missing, *qc_missing])
        if os.environ.get("CI"):  # .ci/setup --test-tools installs them: never skip in CI
            pytest.fail(f"official intake tools missing under CI: {why}")
        pytest.skip(f"not installed: {why} (.ci/setup --test-tools)")
    base = tmp_path_factory.mktemp("official")
    world = base / "world"
    started = time.monotonic()
    generate_world(world, n_patients=20, n_variants=1000, seed=3, detailed_qc_reads=True)
    generated = time.monotonic() - started
    truth = load_truth(world)
    hl = request.getfixturevalue("hl")  # Spark only once the tools are there
    config = config_for(base / "home")
    chosen = choose_paths(truth)
    started = time.monotonic()
    # one at a time: grz-db's should-qc selects a submitter's first of the month it is asked
    # about, so the answers depend on the order (id order here: per submitter by date)
    run = run_world_official_intake(config, world, tools=tools, hail=lambda: hl, paths=chosen)
    seconds = time.monotonic() - started
    heads = {inst.name: inst.ledger().head() for inst in existing_institutions(config)}
    started = time.monotonic()
    rerun = run_world_official_intake(config, world, tools=tools, hail=lambda: hl, paths=chosen)
    rerun_seconds = time.monotonic() - started
    print(f"\nworld generated in {generated:.1f} s; official intake of {len(chosen)} "
          f"submissions: {seconds:.1f} s ({ {k: round(v, 1) for k, v in run.seconds.items()} }); "
          f"rerun {rerun_seconds:.1f} s")
    for path, o in sorted(run.outcomes.items()):
        print(f"  {path}: refused_by={o.refused_by} grz-db={o.grzdb_state} "
              f"genomlab={o.genomlab_state} should_qc={o.should_qc} "
              f"qc_failing={o.detailed_qc_failing} steps={sum(o.steps.values()):.1f} s")
    return Setting(config, world, truth, chosen, run, seconds, heads, rerun, rerun_seconds)


def _meta(s: Setting, path: str) -> dict[str, Any]:
    return dict(json.loads((s.world / path / "metadata" / "metadata.json").read_text()))


def _confirmation(s: Setting, tan: str) -> Any:
    with read_platform(s.config) as conn:
        return conn.execute(select(confirmations_table).where(
            confirmations_table.c.tan_hash == tan_hash(tan))).one_or_none()


def _inflated(s: Setting) -> dict[str, str]:
    return {x["path"]: x["field"].rsplit(".", 1)[1] for x in s.truth["inflated_submissions"]}


def test_run_world_official_intake__every_chosen_submission_has_an_outcome(
        setting: Setting) -> None:
    s = setting
    assert sorted(s.run.outcomes) == s.chosen
    assert s.run.detailed_qc_missing is None
    assert set(s.run.pipelines) == set(s.truth["institutions"]["grz"])
    assert len(_inflated(s)) == 3
    assert {o.planted for o in s.run.outcomes.values()} == {None, *REFUSAL}


def test_run_world_official_intake__good_submissions_confirmed_stored_and_finished(
        setting: Setting) -> None:
    s = setting
    good = [o for o in s.run.outcomes.values()
            if o.planted is None and o.path not in _inflated(s)]
    assert len(good) >= 3
    for o in good:
        assert o.refused_by is None, (o.path, o.reason)
        assert o.grzdb_state == "Finished", o
        assert o.genomlab_state in ("finished", "qc_selected"), o
        assert o.confirmation_id, o
        assert o.steps["grz-cli submit"] > 0
        center = GenomeCenter(s.config, o.grz)
        donors = [d for d in center.get_donors() if d["inbox_id"] == o.submission_id]
        assert len(donors) == len(_meta(s, o.path)["donors"]), o.path
        assert all(d["batch_id"] for d in donors), o.path
        confirmed = _confirmation(s, _meta(s, o.path)["submission"]["tanG"])
        assert (confirmed.confirmation_id, confirmed.node_id, confirmed.qc_passed) == (
            o.confirmation_id, o.grz, True)
        filed = (s.config.home / "hospitals" / o.hospital / "meldebestaetigungen"
                 / f"{o.confirmation_id}.json")
        assert filed.is_file(), filed
        shown = s.run.pipelines[o.grz].get_submission(str(o.submission_id))
        assert shown is not None
        assert shown["basic_qc_passed"] is True
        if o.should_qc:  # selected: detailed QC ran and passed, grz-db says so
            assert o.detailed_qc_failing == [], o
            assert shown["detailed_qc_passed"] is True
            assert "QCed" in [st["state"] for st in shown["states"]]
    assert any(o.should_qc for o in good)  # honest selected ones were run


def test_run_world_official_intake__inflated_selected_fail_detailed_qc_and_are_reported(
        setting: Setting) -> None:
    s = setting
    for path, metric in _inflated(s).items():
        o = s.run.outcomes[path]
        assert o.should_qc is True, o  # a submitter's first of a month: always selected
        assert o.refused_by == "detailed QC", o
        assert o.detailed_qc_failing == [f"index0_germline0.{metric}"], o
        assert metric in str(o.reason)
        assert (o.genomlab_state, o.confirmation_id) == (None, None), o
        assert GenomeCenter(s.config, o.grz).get_item(str(o.submission_id)) is None
        shown = s.run.pipelines[o.grz].get_submission(str(o.submission_id))
        assert shown is not None
        assert shown["detailed_qc_passed"] is False
        states = [st["state"] for st in shown["states"]]
        assert "Reported" in states, states
        assert "Archived" not in states, states
        error = [st for st in shown["states"] if st["state"] == "Error"][-1]
        assert (error["failure_reason"], error["data"]) == (
            "detailed_qc_error", {"failing": [f"index0_germline0.{metric}"]})
        confirmed = _confirmation(s, _meta(s, path)["submission"]["tanG"])
        assert confirmed is not None, path  # grzctl's failing Prüfbericht reached the platform
        assert confirmed.qc_passed is False


def test_run_world_official_intake__planted_bad_refused_by_the_official_tools(
        setting: Setting) -> None:
    s = setting
    for bad in s.truth["bad_submissions"]:
        o = s.run.outcomes[bad["path"]]
        tool, phrases = REFUSAL[bad["reason"]]
        assert o.refused_by == tool, (bad, o)
        for phrase in phrases:
            assert phrase in str(o.reason), (bad["reason"], phrase, o.reason)
        assert (o.genomlab_state, o.confirmation_id) == (None, None), o
        if o.submission_id is not None:
            assert GenomeCenter(s.config, o.grz).get_item(o.submission_id) is None
        if tool == "grz-cli submit":  # never left the hospital: grz-db never saw it
            records = {str(r["id"]) for r in s.run.pipelines[o.grz].list_submissions()}
            assert o.submission_id not in records
    checksum = next(b for b in s.truth["bad_submissions"] if b["reason"] == "checksum_mismatch")
    first = _meta(s, checksum["path"])["donors"][0]["labData"][0]["sequenceData"]["files"][0]
    assert f"{first['filePath']}: Checksum mismatch" in str(s.run.outcomes[checksum["path"]].reason)


def test_run_world_official_intake__grz_db_agrees_with_genomlab(setting: Setting) -> None:
    s = setting
    for grz, pipeline in s.run.pipelines.items():
        finished = {str(r["id"]) for r in pipeline.list_submissions()
                    if (r.get("latest_state") or {}).get("state") == "Finished"}
        stored = {r["inbox_id"] for r in GenomeCenter(s.config, grz).get_submissions()
                  if r["confirmation_id"]}
        assert finished == stored, grz
        assert finished == {o.submission_id for o in s.run.outcomes.values()
                            if o.grz == grz and o.refused_by is None}
        rows = {r["inbox_id"]: r for r in GenomeCenter(s.config, grz).get_submissions()}
        grz_db = GrzDb.from_grzctl_config(pipeline.config_file)
        for sid in finished:  # genomlab took grz-db's selection (grzctl db should-qc)
            record = grz_db.get(sid)
            assert record is not None
            assert bool(rows[sid]["selected_for_qc"]) is (record.selected_for_qc is True), sid


def test_run_world_official_intake__rerun_sends_nothing_again_and_appends_nothing(
        setting: Setting) -> None:
    s = setting
    assert {inst.name: inst.ledger().head() for inst in existing_institutions(s.config)} == (
        s.heads)
    assert all(inst.ledger().verify().ok for inst in existing_institutions(s.config))
    for path, first in s.run.outcomes.items():
        again = s.rerun.outcomes[path]
        assert (again.refused_by, again.grzdb_state, again.confirmation_id) == (
            first.refused_by, first.grzdb_state, first.confirmation_id), path
        assert again.earlier_run is True, path
        assert again.steps == {}, path  # nothing sent, no grzctl step
    assert s.rerun.seconds.keys() == {"set-up", "whole"}  # no service, no inbox, no pipeline
    for grz in s.run.pipelines:  # one client per GRZ, issued by the first run and reused
        assert (Institution(s.config, "grz", grz).directory / "platform-client.json").is_file()
