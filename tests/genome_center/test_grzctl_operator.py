"""The GRZ service's answers about its grzctl pipeline survive JSON; its set-up is reloadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genomlab.genome_center.detailed_qc import LabDatumQc, SubmissionQc, compare_metric
from genomlab.genome_center.grz_tools import S3Target
from genomlab.genome_center.grzctl_operator import (
    SubmissionRecord,
    outcome_from_json,
    outcome_to_json,
    record_from_json,
    record_to_json,
)
from genomlab.genome_center.grzctl_pipeline import (
    PIPELINE_SETTINGS,
    DetailedQcSetting,
    GrzctlPipeline,
    PruefberichtApi,
    SubmissionOutcome,
)

SID = "260914050_2024-10-01_a1b2c3d4"


def test_outcome_from_json__detailed_qc_and_steps_round_trip() -> None:
    lab = LabDatumQc("S1_tumor", "DP1", "lab0", "wgs", "somatic", "tumor", 30.0, 30.0,
                     {"meanDepthOfCoverage": compare_metric(26.0, 35.6, 30.0),
                      "percentBasesAboveQualityThreshold": compare_metric(91.0, 90.0, 85.0)},
                     {"fastp": 1.5})
    outcome = SubmissionOutcome(SID, steps={"download": 0.25}, grzdb_state="Error",
                                refused="detailed_qc_error: x", refused_at="detailed_qc",
                                should_qc=True, detailed_qc=SubmissionQc(SID, [lab]))
    sent = json.loads(json.dumps(outcome_to_json(outcome)))  # what goes over the wire
    back = outcome_from_json(sent)
    assert back == outcome
    assert back.detailed_qc is not None
    assert back.detailed_qc.failing == ["S1_tumor.meanDepthOfCoverage"]


def test_record_from_json__round_trip_and_a_missing_field_named() -> None:
    record = SubmissionRecord(SID, "Error", "validation_error", {"errors": ["x"]}, None, None)
    assert record_from_json(json.loads(json.dumps(record_to_json(record)))) == record
    broken = record_to_json(record)
    del broken["grzdb_state"]
    with pytest.raises(ValueError, match="grzdb_state"):
        record_from_json(broken)


def test_grzctl_pipeline_load__what_save_settings_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "grzctl"
    folder.mkdir()
    pipeline = GrzctlPipeline(
        tmp_path / "bin" / "grzctl", folder / "grzctl.yaml", folder / "work", grz_id="GRZK00001",
        inbox=S3Target("https://127.0.0.1:9000", "inbox", "key", "secret",
                       ca_bundle=str(tmp_path / "ca.pem")),
        pruefbericht=PruefberichtApi("https://127.0.0.1:1/oauth2/token",
                                     "https://127.0.0.1:1/api/pruefbericht", "c", "s",
                                     tmp_path / "platform-ca.pem"),
        detailed_qc=DetailedQcSetting(tmp_path / "ref.fa", tmp_path / "targets.bed", threads=2))
    path = pipeline.save_settings()
    assert path == folder / PIPELINE_SETTINGS
    assert path.stat().st_mode & 0o777 == 0o600  # it names the inbox's access key
    loaded = GrzctlPipeline.load(folder)
    assert vars(loaded) == vars(pipeline)
    settings = json.loads(path.read_text())
    del settings["inbox"]
    path.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="field 'inbox'"):
        GrzctlPipeline.load(folder)
