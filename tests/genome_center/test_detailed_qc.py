"""Detailed QC (issue 17): GRZ_QC_Workflow's steps (fastp, bwa mem, mosdepth) and BfArM's
comparison on a small world written with detailed-QC reads and inflated submissions.

The run needs Debian's fastp, bwa, samtools and mosdepth (``.ci/setup --test-tools``); without
them the test skips, saying why, except under CI, where a skip would hide it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genomlab.genome_center.detailed_qc import (
    QC_METRICS,
    REPORT_COLUMNS,
    QcTools,
    SubmissionQc,
    compare_metric,
    find_qc_tools,
    format_report_csv,
    run_detailed_qc,
)
from genomlab.genome_center.grz_record import GrzDb
from genomlab.genome_center.grz_tools import Crypt4ghKeyPair, S3Target, find_grz_tool
from genomlab.genome_center.grzctl_pipeline import (
    DetailedQcSetting,
    GrzctlPipeline,
    PruefberichtApi,
    SubmissionOutcome,
    grzctl_config,
    make_db_author,
)
from genomlab.samples import generate_world, load_truth
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(bool(os.environ.get("PYTEST_POSTGRES")),
                                reason="detailed QC opens no store: nothing to add for PostgreSQL")


@pytest.mark.parametrize(("measured", "provided", "required", "status"), [
    (30.0, 30.0, 30.0, "PASS"),         # exactly the threshold meets it
    (29.999, 29.999, 30.0, "FAIL"),     # just below fails, whatever was reported
    (30.0, 33.0, 30.0, "PASS"),         # deviation exactly -10 % is tolerated
    (30.0, 33.0001, 30.0, "DEVIATION"),  # beyond 10 %: flagged, not failed
    (40.0, 36.0, 30.0, "PASS"),         # +10 % (measured above the report) is tolerated
    (40.0, 35.9, 30.0, "DEVIATION"),
    (0.8, 0.0, 0.8, "PASS"),            # provided 0 counts as missing: no deviation
    (0.0, 0.9, 0.8, "FAIL"),            # measured 0: deviation undefined, below threshold
])
def test_compare_metric__boundaries(measured: float, provided: float, required: float,
                                    status: str) -> None:
    check = compare_metric(measured, provided, required)
    assert check.status == status
    assert check.meets_threshold is (measured >= required)
    if provided and measured:
        assert check.deviation == pytest.approx((measured - provided) / measured * 100)
    else:
        assert check.deviation is None


def test_compare_metric__deviation_sign_and_none_provided() -> None:
    assert compare_metric(26.0, 35.6, 30.0).deviation == pytest.approx(-36.923, abs=1e-3)
    none = compare_metric(31.0, None, 30.0)
    assert (none.deviation, none.status) == (None, "PASS")


@pytest.fixture(scope="module")
def qc_tools(tmp_path_factory: pytest.TempPathFactory) -> QcTools:
    missing = [t for t in ("fastp", "bwa", "samtools", "mosdepth") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):  # .ci/setup --test-tools installs them: never skip in CI
            pytest.fail(f"detailed QC tools missing under CI: {missing}")
        pytest.skip(f"{', '.join(missing)} not installed: run .ci/setup --test-tools")
    return find_qc_tools(tmp_path_factory.mktemp("qc-tools"))


@pytest.fixture(scope="module")
def qc_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("qc-world") / "world"
    generate_world(out, n_patients=20, n_variants=1000, seed=3, detailed_qc_reads=True)
    return out, load_truth(out)


def get_selected(truth: dict[str, Any], folder: Path) -> list[str]:
    """The initial submissions grz-db's ``should_qc`` selects when a GRZ (its grz-db made in
    ``folder``) takes the world's submissions in id order (per submitter: by date)."""
    initial = sorted((s for s in truth["submissions"] if s["type"] == "initial"),
                     key=lambda s: s["submission_id"])
    return GrzDb.for_grz(folder).select_initials([
        (s["submission_id"], s["hospital_ik"],
         dt.date.fromisoformat(s["submission_id"].split("_")[1])) for s in initial])


def run_one(world: Path, sid: str, tools: QcTools, work: Path) -> SubmissionQc:
    return run_detailed_qc(world / "submissions" / sid, world / "detailed_qc" / "reference.fa",
                           world / "detailed_qc" / "targets.bed", work / sid, tools)


@pytest.mark.tools
def test_run_detailed_qc__inflated_selected_fail_with_metric_honest_pass(
        qc_world: tuple[Path, dict[str, Any]], qc_tools: QcTools, tmp_path: Path) -> None:
    world, truth = qc_world
    inflated = {x["submission_id"]: x["field"].rsplit(".", 1)[1]
                for x in truth["inflated_submissions"]}
    assert len(inflated) == 3
    assert set(inflated.values()) == set(QC_METRICS)
    selected = get_selected(truth, tmp_path / "grz")
    assert set(inflated) <= set(selected)
    assert len(selected) > len(inflated)  # honest ones are selected too
    for sid in selected:
        result = run_one(world, sid, qc_tools, tmp_path)
        assert result.lab_data, sid
        if sid in inflated:
            assert not result.passed, sid
            assert result.failing == [f"index0_germline0.{inflated[sid]}"], sid
            lab = result.lab_data[0]
            check = lab.metrics[inflated[sid]]
            assert check.measured < check.required < check.provided  # type: ignore[operator]
        else:
            assert result.passed, (sid, result.failing)
            for lab in result.lab_data:  # the reads carry the reported figures
                assert all(c.status == "PASS" for c in lab.metrics.values()), (sid, lab)


@pytest.mark.tools
def test_format_report_csv__rows_name_metric_status_as_grzctl_reads_them(
        qc_world: tuple[Path, dict[str, Any]], qc_tools: QcTools, tmp_path: Path) -> None:
    world, truth = qc_world
    target = next(x for x in truth["inflated_submissions"]
                  if x["field"].endswith("targetedRegionsAboveMinCoverage"))
    result = run_one(world, target["submission_id"], qc_tools, tmp_path)
    rows = list(csv.DictReader(io.StringIO(format_report_csv(result))))
    assert list(rows[0]) == list(REPORT_COLUMNS)
    germline = next(r for r in rows if r["sampleId"] == "index0_germline0")
    assert germline["qualityControlStatus"] == "FAIL"
    assert germline["targetedRegionsAboveMinCoverageQCStatus"] == "FAIL"
    assert float(germline["targetedRegionsAboveMinCoverage"]) == pytest.approx(target["true"])
    assert float(germline["targetedRegionsAboveMinCoverageProvided"]) == target["reported"]
    assert germline["meanDepthOfCoverageQCStatus"] == "PASS"
    assert germline["minCoverage"] == "20.0"


class RecordingPipeline(GrzctlPipeline):
    """grzctl's pipeline whose failing Prüfbericht is recorded instead of submitted (the
    Prüfbericht API is the slow pipeline test's, tests/genome_center/test_grzctl_pipeline.py)."""

    reported: list[str]

    def _report_refusal(self, sid: str, folder: Path, outcome: SubmissionOutcome) -> None:
        self.reported.append(sid)


@pytest.mark.slow
@pytest.mark.tools
def test_run_detailed_qc__grzdb_records_failure_and_grzctl_agrees(
        qc_world: tuple[Path, dict[str, Any]], qc_tools: QcTools, tmp_path: Path) -> None:
    """An inflated submission through :meth:`GrzctlPipeline.run_detailed_qc` on a grz-db: the
    results, the verdict and the failure are grz-db's, grzctl's own recomputation changes
    nothing and its quarterly report lists the failed metric."""
    grzctl = find_grz_tool("grzctl", [REPO], override=os.environ.get("PYTEST_GRZCTL"))
    if grzctl is None:
        if os.environ.get("CI"):
            pytest.fail("grzctl missing under CI (.ci/setup --test-tools makes .grzctl-venv)")
        pytest.skip("BfArM's grzctl is not installed: run .ci/setup --test-tools")
    world, truth = qc_world
    planted = next(x for x in truth["inflated_submissions"]
                   if x["field"].endswith("meanDepthOfCoverage"))
    sid = planted["submission_id"]
    folder = world / planted["path"]
    home = tmp_path / "grzctl"
    author = make_db_author(home / "keys")
    (home / "c4gh.pub").write_text("unused")
    config = grzctl_config(
        grz_id="GRZK00007", submitters=[sid.split("_")[0]],
        inbox=S3Target("http://127.0.0.1:9", "unused", "unused", "unused"),
        inbox_keys=Crypt4ghKeyPair(home / "c4gh.pub", home / "c4gh.pub"),
        archives={"consented": ("a", home / "c4gh.pub"),
                  "non_consented": ("b", home / "c4gh.pub")},
        database_url=f"sqlite:///{home / 'grz-db.sqlite'}", author=author,
        pruefbericht=PruefberichtApi("https://127.0.0.1:9/t", "https://127.0.0.1:9/a", "c", "s"))
    (home / "grzctl.yaml").write_text(json.dumps(config))
    pipeline = RecordingPipeline(
        grzctl, home / "grzctl.yaml", home / "work", grz_id="GRZK00007",
        inbox=S3Target("http://127.0.0.1:9", "unused", "unused", "unused"),
        pruefbericht=PruefberichtApi("https://127.0.0.1:9/t", "https://127.0.0.1:9/a", "c", "s"),
        detailed_qc=DetailedQcSetting(world / "detailed_qc" / "reference.fa",
                                      world / "detailed_qc" / "targets.bed", qc_tools))
    pipeline.reported = []
    pipeline.grzctl_run("db", "upgrade")
    pipeline.grzctl_run("db", "submission", "add", sid)
    day = sid.split("_")[1]
    pipeline.grzctl_run("db", "submission", "populate", sid,
                        str(folder / "metadata" / "metadata.json"), "--submission-date", day,
                        "--no-confirm")
    outcome = SubmissionOutcome(sid)
    assert pipeline.run_detailed_qc(sid, folder, outcome) is False
    assert outcome.refused == "detailed QC failed: index0_germline0.meanDepthOfCoverage"
    assert pipeline.reported == [sid]
    shown = pipeline.get_submission(sid)
    assert shown is not None
    assert shown["detailed_qc_passed"] is False
    states = [(s["state"], s["failure_reason"], s["data"]) for s in shown["states"]]
    assert states[-2:] == [("QCing", None, None), ("Error", "detailed_qc_error", {
        "failing": ["index0_germline0.meanDepthOfCoverage"]})]
    assert all(s["data_steward_signature"] == "Verified" for s in shown["states"])
    year, month = int(day[:4]), int(day[5:7])
    quarter = (month - 1) // 3 + 1
    recomputed = pipeline.grzctl_run("db", "submission", "recompute-qc", "--year", str(year),
                                     "--quarter", str(quarter))
    assert "Would update 0 metric(s) and 0 verdict(s)" in " ".join(recomputed.split())
    tables = pipeline.report_quarterly(year, quarter, tmp_path / "report")
    rows = [r for r in tables["detailed_qc"] if r["submission_id"] == sid
            and r["sequenceSubtype"] == "germline"]  # one row per lab datum
    assert len(rows) == 1
    assert (rows[0]["detailed_qc_passed"], rows[0]["meanDepthOfCoverage"],
            rows[0]["meanDepthOfCoverage_detailedQC_passed"],
            rows[0]["deviation_exceeds_tolerance"]) == ("no", "26.0", "no", "yes")
    assert float(rows[0]["meanDepthOfCoverage_detailedQC_deviation%"]) == pytest.approx(
        (26.0 - planted["reported"]) / 26.0 * 100)


def test_generate_world__detailed_qc_reads_keep_metadata_checksums(
        qc_world: tuple[Path, dict[str, Any]]) -> None:
    """Every file a submission's metadata lists (detailed-QC reads included) has its checksum
    and size; the world's reference and target BED are there."""
    import hashlib

    world, truth = qc_world
    assert (world / "detailed_qc" / "reference.fa").read_text().startswith(">chrQC\n")
    assert len((world / "detailed_qc" / "targets.bed").read_text().splitlines()) == 20
    for sub in truth["submissions"]:
        meta = json.loads((world / sub["path"] / "metadata" / "metadata.json").read_text())
        for donor in meta["donors"]:
            for lab in donor["labData"]:
                for f in lab["sequenceData"]["files"]:
                    data = (world / sub["path"] / "files" / f["filePath"]).read_bytes()
                    assert hashlib.sha256(data).hexdigest() == f["fileChecksum"], f["filePath"]
                    assert len(data) == f["fileSizeInBytes"], f["filePath"]


class CommandLog(RecordingPipeline):
    """No grzctl at all: the commands the pipeline gives it are recorded."""

    commands: list[tuple[str, ...]]

    def grzctl_run(self, *args: str) -> str:
        self.commands.append(args)
        return ""


@pytest.mark.tools
def test_run_detailed_qc__grzctl_commands_for_a_pass_and_a_failure(
        qc_world: tuple[Path, dict[str, Any]], qc_tools: QcTools, tmp_path: Path) -> None:
    world, truth = qc_world
    inflated = next(x for x in truth["inflated_submissions"]
                    if x["field"].endswith("percentBasesAboveQualityThreshold"))
    honest = next(s for s in truth["submissions"] if s["type"] == "initial"
                  and s["submission_id"] in get_selected(truth, tmp_path / "grz")
                  and s["submission_id"] not in {x["submission_id"]
                                                 for x in truth["inflated_submissions"]})
    api = PruefberichtApi("https://127.0.0.1:9/t", "https://127.0.0.1:9/a", "c", "s")
    pipeline = CommandLog(Path("/nonexistent/grzctl"), tmp_path / "grzctl" / "grzctl.yaml",
                          tmp_path / "grzctl" / "work", grz_id="GRZK00007",
                          inbox=S3Target("http://127.0.0.1:9", "b", "a", "s"), pruefbericht=api,
                          detailed_qc=DetailedQcSetting(world / "detailed_qc" / "reference.fa",
                                                        world / "detailed_qc" / "targets.bed",
                                                        qc_tools))
    pipeline.reported, pipeline.commands = [], []
    for entry, passed in ((honest, True), (inflated, False)):
        sid = entry["submission_id"]
        pipeline.commands.clear()
        outcome = SubmissionOutcome(sid)
        assert pipeline.run_detailed_qc(sid, world / entry["path"], outcome) is passed
        report = tmp_path / "grzctl" / "detailed_qc" / sid / "report.csv"
        expected: list[tuple[str, ...]] = [
            ("db", "submission", "update", sid, "QCing"),
            ("db", "submission", "populate-qc", sid, str(report), "--no-confirm"),
            ("db", "submission", "modify", sid, "detailed_qc_passed", str(passed).lower())]
        if passed:
            expected.append(("db", "submission", "update", sid, "QCed"))
            assert outcome.refused is None
        else:
            metric = "index0_germline0.percentBasesAboveQualityThreshold"
            expected.append(("db", "submission", "update", sid, "error", "--failure-reason",
                             "detailed_qc_error", "--data", json.dumps({"failing": [metric]})))
            assert outcome.refused == f"detailed QC failed: {metric}"
        assert pipeline.commands == expected
        assert outcome.detailed_qc is not None
        assert outcome.detailed_qc.passed is passed
        assert report.read_text().startswith("sampleId,")
        assert not (report.parent / "work").exists()  # BAMs and trimmed reads not kept
    assert pipeline.reported == [inflated["submission_id"]]
    assert (tmp_path / "grzctl" / "detailed_qc" / "reference" / "reference.fa.bwt").is_file()


@pytest.mark.tools
def test_run_detailed_qc__wes_and_panel_on_their_beds_and_thresholds_inflated_fraction_fails(
        qc_world: tuple[Path, dict[str, Any]], qc_tools: QcTools, tmp_path: Path) -> None:
    """Captured libraries (WES germline + tumour, WES germline + panel tumour): mosdepth over
    each lab datum's own BED, BfArM's WES/panel thresholds; honest ones pass; the panel's reads
    redrawn at a true fraction of 0.6 of its windows, its reported figure kept, fail on that."""
    import hashlib

    from genomlab.samples.qc_reads import get_library_targets, make_captured_read_pairs

    world, truth = qc_world
    targeted = {x["submission_id"]: x["library_types"] for x in truth["targeted_submissions"]}
    assert sorted(map(tuple, (t.values() for t in targeted.values()))) == [
        ("wes", "panel"), ("wes", "wes")]
    # BfArM's (depth, minCoverage) per (library type, sequence subtype), tumor+germline
    required = {("wes", "germline"): (100.0, 30.0), ("wes", "somatic"): (200.0, 100.0),
                ("panel", "somatic"): (200.0, 100.0)}
    for sid, libraries in targeted.items():
        result = run_one(world, sid, qc_tools, tmp_path)
        assert result.passed, (sid, result.failing)
        assert [(lab.library_type, lab.sequence_subtype) for lab in result.lab_data] == [
            (libraries["germline"], "germline"), (libraries["somatic"], "somatic")]
        meta = json.loads((world / "submissions" / sid / "metadata" / "metadata.json")
                          .read_text())
        index = next(d for d in meta["donors"] if d["relation"] == "index")
        for lab, datum in zip(result.lab_data, index["labData"], strict=True):
            depth = lab.metrics["meanDepthOfCoverage"]
            assert (depth.required, lab.min_coverage) == required[
                (lab.library_type, lab.sequence_subtype)], (sid, lab.sample_id)
            assert depth.measured == pytest.approx(depth.provided)  # mosdepth's total_region
            assert datum["sequenceData"]["minCoverage"] == lab.min_coverage
            fraction = lab.metrics["targetedRegionsAboveMinCoverage"]
            n_windows = len(get_library_targets(lab.library_type))
            assert round(fraction.measured * n_windows) == pytest.approx(
                fraction.measured * n_windows)  # a share of the lab datum's own windows
    panel_sid = next(sid for sid, lib in targeted.items() if lib["somatic"] == "panel")
    copy = tmp_path / "inflated" / panel_sid
    shutil.copytree(world / "submissions" / panel_sid, copy)
    meta_path = copy / "metadata" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    tumour = next(d for d in meta["donors"] if d["relation"] == "index")["labData"][1]
    seq = tumour["sequenceData"]
    reported = seq["targetedRegionsAboveMinCoverage"]
    assert reported >= 0.8
    reference = (world / "detailed_qc" / "reference.fa").read_text().split("\n", 1)[1]
    fastqs = [f for f in seq["files"] if f["fileType"] == "fastq"]
    reads = make_captured_read_pairs(
        np.random.default_rng(0), reference.replace("\n", "").encode(),
        get_library_targets("panel"), depth=seq["meanDepthOfCoverage"],
        percent_q30=seq["percentBasesAboveQualityThreshold"]["percent"], target_fraction=0.6,
        name=fastqs[0]["flowcellId"])
    for entry, data in zip(fastqs, reads, strict=True):
        (copy / "files" / entry["filePath"]).write_bytes(data)
        entry["fileChecksum"] = hashlib.sha256(data).hexdigest()
        entry["fileSizeInBytes"] = len(data)
    meta_path.write_text(json.dumps(meta))
    result = run_detailed_qc(copy, world / "detailed_qc" / "reference.fa",
                             world / "detailed_qc" / "targets.bed", tmp_path / "inflated-work",
                             qc_tools, index_dir=tmp_path)
    assert result.failing == ["index0_somatic1.targetedRegionsAboveMinCoverage"]
    check = result.lab_data[1].metrics["targetedRegionsAboveMinCoverage"]
    assert (check.measured, check.required, check.provided) == (0.6, 0.8, reported)
    assert check.status == "FAIL"
