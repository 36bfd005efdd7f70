"""qc_provenance.json: the thresholds, the ancestry record and the software versions of a run."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from genomlab.workspace.qc.pipeline import QcThresholds
from genomlab.workspace.qc.provenance import get_qc_provenance, write_qc_provenance


def test_write_qc_provenance__records_thresholds_ancestry_and_versions(tmp_path: Path) -> None:
    thresholds = QcThresholds(ancestry_min_prob=0.8)
    ancestry = {"method": "reference", "reference": {"name": "panel", "sha256": "ab12"}}
    path = write_qc_provenance(get_qc_provenance(thresholds, ancestry), tmp_path)
    record = json.loads(path.read_text())
    assert record["thresholds"]["ancestry_min_prob"] == 0.8
    assert record["thresholds"]["min_call_rate"] == 0.97
    assert record["ancestry"] == ancestry
    assert record["software"]["hail"] == metadata.version("hail")
    assert record["software"]["gnomad"] == metadata.version("gnomad")
    assert record["software"]["genomlab"] == metadata.version("genomlab")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qc_provenance.json"]
