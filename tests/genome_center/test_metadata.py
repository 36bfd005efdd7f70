"""Basic validation against BfArM's shipped examples; grz-db's selection for detailed QC."""

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

from genomlab.genome_center.grz_record import GrzDb
from genomlab.genome_center.metadata import (
    SubmissionRejected,
    check_submission_files,
    validate_metadata_text,
)
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


def _shorten_reads(text: bytes) -> bytes:
    """Every read and its qualities cut to 30 bases (BfArM's WGS minimum mean is 70)."""
    lines = text.split(b"\n")
    return b"\n".join(line[:30] if n % 4 in (1, 3) else line for n, line in enumerate(lines))


@pytest.mark.parametrize(("change", "problem"), [
    (lambda text: b"".join(text.splitlines(keepends=True)[:4]), "Mismatched read counts"),
    (_shorten_reads, "Mean read length (30) is less than minimum required (70)"),
], ids=["one_read_fewer_than_r2", "reads_too_short"])
def test_check_submission_files__bad_fastq_with_matching_checksum_refused_by_grz_check(
        tmp_path, change, problem):
    """The hospital's checksum and size are those of the bad R1, so only grz-check's content
    check (as grzctl's validate runs it) can see that the file is not a valid read set."""
    import gzip
    import hashlib
    import shutil

    source = REPO / "data_samples" / "world" / "submissions"
    copy = tmp_path / "sub"
    shutil.copytree(sorted(p for p in source.iterdir() if p.name[0].isdigit())[0], copy)
    raw = json.loads((copy / "metadata" / "metadata.json").read_text())
    entry = raw["donors"][0]["labData"][0]["sequenceData"]["files"][0]
    assert (entry["fileType"], entry["readOrder"]) == ("fastq", "R1")
    fastq = copy / "files" / entry["filePath"]
    data = gzip.compress(change(gzip.decompress(fastq.read_bytes())), mtime=0)
    fastq.write_bytes(data)
    entry.update(fileChecksum=hashlib.sha256(data).hexdigest(), fileSizeInBytes=len(data))
    checked = validate_metadata_text(json.dumps(raw), source="x")
    with pytest.raises(SubmissionRejected) as caught:
        check_submission_files(checked.metadata, copy / "files", source="x")
    assert caught.value.reason == "validation_error"
    assert caught.value.field == "donors[0].labData[0].sequenceData.files[0]"
    assert caught.value.detail.startswith(f"{entry['filePath']}: grz-check: ")
    assert problem in caught.value.detail


def test_grz_db_selection__first_of_each_submitter_month_then_few(tmp_path):
    """grz-db's ``should_qc`` (genomlab keeps no copy): each submitter's first initial
    submission of a month is selected; of the rest at most one per block of 50 (2 %) of a
    submitter's quarter; an answer once given is kept."""
    rng = random.Random(7)
    start = date(2025, 7, 1)
    days = sorted((f"26000000{i % 2}", start + timedelta(days=rng.randrange(92)))
                  for i in range(40))
    days.sort(key=lambda c: c[1])
    subs = [(f"{le}_{day.isoformat()}_{i:08x}", le, day) for i, (le, day) in enumerate(days)]
    grz_db = GrzDb.for_grz(tmp_path)
    selected = set(grz_db.select_initials(subs))
    firsts = {next(sid for sid, le, day in subs if (le, day.month) == key)
              for key in {(le, day.month) for _, le, day in subs}}
    assert len(firsts) == 6
    assert firsts <= selected
    assert len(selected - firsts) <= 2  # per submitter 20 in the quarter: one block
    assert {sid for sid, _, _ in subs if grz_db.is_selected(sid)} == selected
