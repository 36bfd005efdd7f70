"""Basic validation against BfArM's shipped examples and the sampling rule."""

from __future__ import annotations

import importlib.resources
import json
import random
import re
from datetime import date, timedelta
from pathlib import Path

import grz_pydantic_models_testing.example_metadata as good_examples
import grz_pydantic_models_testing.failing_metadata as bad_examples
import pytest

from genomlab.genome_center.metadata import (
    SubmissionRejected,
    check_submission_files,
    validate_metadata_text,
)
from genomlab.genome_center.sampling import QcCandidate, select_for_detailed_qc
from tests.conftest import REPO


def _jsons(package) -> list[Path]:
    return sorted(Path(str(importlib.resources.files(package))).rglob("*.json"))


GOOD = _jsons(good_examples)
ACCEPTED_BY_BFARM = {"missing-vcf-file.json"}
"""In ``failing_metadata`` but BfArM's model accepts it: a VCF is recommended, not required."""
BAD = [p for p in _jsons(bad_examples) if p.name not in ACCEPTED_BY_BFARM]
CAMEL_FIELD = re.compile(r"(submission|donors)(\[[^\]]+\]|\.[A-Za-z]+)")


@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_validate_metadata_text__bfarm_valid_examples_accepted(path):
    checked = validate_metadata_text(path.read_text(), source=path.name)
    assert sum(d.relation == "index" for d in checked.metadata.donors) == 1


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_validate_metadata_text__bfarm_failing_examples_rejected_naming_field(path):
    with pytest.raises(SubmissionRejected) as caught:
        validate_metadata_text(path.read_text(), source=path.name)
    assert CAMEL_FIELD.match(caught.value.field), caught.value.field
    assert f"field {caught.value.field}" in str(caught.value)
    assert str(caught.value).startswith(path.name)


def test_validate_metadata_text__good_and_bad_example_counts_are_real():
    assert len(GOOD) >= 10
    assert len(BAD) >= 5


def test_validate_metadata_text__submission_without_vcf_accepted_as_bfarm_does():
    from grz_pydantic_models.submission.metadata import GrzSubmissionMetadata

    path = Path(str(importlib.resources.files(bad_examples))) / "missing-vcf-file.json"
    GrzSubmissionMetadata.model_validate(json.loads(path.read_text()))  # BfArM accepts it
    checked = validate_metadata_text(path.read_text(), source=path.name)
    index = next(d for d in checked.metadata.donors if d.relation == "index")
    files = [f for lab in index.lab_data if lab.sequence_data
             for f in lab.sequence_data.files]
    assert files
    assert not any(f.file_type == "vcf" for f in files)


def test_check_submission_files__world_submission_then_flipped_byte(tmp_path):
    import shutil

    source = REPO / "data_samples" / "world" / "submissions"
    original = sorted(p for p in source.iterdir() if p.name[0].isdigit())[0]
    copy = tmp_path / original.name
    shutil.copytree(original, copy)
    checked = validate_metadata_text((copy / "metadata" / "metadata.json").read_text(),
                                     source="x")
    total = check_submission_files(checked.metadata, copy / "files", source="x")
    assert total == sum(p.stat().st_size for p in (copy / "files").rglob("*") if p.is_file())
    victim = next(p for p in (copy / "files").rglob("*.vcf.gz"))
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(SubmissionRejected, match=r"fileChecksum") as caught:
        check_submission_files(checked.metadata, copy / "files", source="x")
    raw = json.loads((copy / "metadata" / "metadata.json").read_text())
    i, j, k = map(int, re.findall(r"\[(\d+)\]", caught.value.field))
    assert raw["donors"][i]["labData"][j]["sequenceData"]["files"][k]["filePath"] == str(
        victim.relative_to(copy / "files"))
    victim.unlink()
    with pytest.raises(SubmissionRejected, match=r"filePath") as missing:
        check_submission_files(checked.metadata, copy / "files", source="x")
    assert missing.value.reason == "file_not_found"


def test_select_for_detailed_qc__first_of_month_and_about_two_percent():
    rng = random.Random(7)
    start = date(2025, 7, 1)
    candidates = [QcCandidate(f"s{i:05d}", f"26000000{i % 3}",
                              start + timedelta(days=rng.randrange(92)))
                  for i in range(6000)]
    candidates.sort(key=lambda c: (c.submission_date, c.key))
    selected = select_for_detailed_qc(candidates)
    for submitter in {c.submitter_id for c in candidates}:
        for month in (7, 8, 9):
            first = next(c for c in candidates if c.submitter_id == submitter
                         and c.submission_date.month == month)
            assert first.key in selected
    share = len(selected) / len(candidates)
    assert 0.02 <= share <= 0.03
    assert select_for_detailed_qc(candidates) == selected
    assert select_for_detailed_qc(candidates[:3000]) == {c.key for c in candidates[:3000]
                                                        if c.key in selected}
