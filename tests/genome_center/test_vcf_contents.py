"""GRZ intake checks VCF contents in validation, before any Hail work (issue 21), and FASTQ
contents through BfArM's grz-check (issue 17).

Each bad file is built from a good world submission in ``tmp_path``: the file is changed (and,
as a hospital would send it, the metadata's checksum and size match the changed file), so only
the content check can catch it. The runs get a Hail starter that fails the test (or stops the
run) if called: a bad submission must end in ``error`` before Hail. The one test that stores
genotypes (a truncated VCF and a VCF Hail cannot parse beside a valid submission, then the
corrected resubmission) is marked ``hail``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.genome_center.genotypes import STORES
from genomlab.genome_center.intake import GenomeCenter
from genomlab.intake import request_world_case_numbers, run_grz_intake
from genomlab.platform.confirmations import (
    get_confirmation_public_key_pem,
    verify_confirmation_bytes,
)
from genomlab.samples.vcf import compress_bgzf
from tests.genome_center.conftest import HailStarted, refuse_hail, stop_at_hail

GRZ = "GRZK00001"


@pytest.fixture
def vns(config: GenomlabConfig, world_copy: Path, world: dict[str, Any]) -> dict[str, Any]:
    """The world registered, its case numbers issued (the hospitals' book filled)."""
    request_world_case_numbers(config, world_copy)
    return world


def _copy_submission(world_copy: Path, world: dict[str, Any], n: int, target: Path) -> Path:
    """A copy of the ``n``-th good world submission of :data:`GRZ` at ``target``."""
    source = world_copy / [s for s in world["submissions"] if s["grz"] == GRZ][n]["path"]
    shutil.copytree(source, target)
    return target


def _index_vcf(folder: Path) -> tuple[Path, str]:
    """The index donor's germline VCF and its metadata field path."""
    raw = json.loads((folder / "metadata" / "metadata.json").read_text())
    index = next(i for i, d in enumerate(raw["donors"]) if d["relation"] == "index")
    for j, lab in enumerate(raw["donors"][index]["labData"]):
        for k, entry in enumerate((lab.get("sequenceData") or {}).get("files", [])):
            if entry["fileType"] == "vcf" and lab["sequenceSubtype"] == "germline":
                return (folder / "files" / entry["filePath"],
                        f"donors[{index}].labData[{j}].sequenceData.files[{k}]")
    raise AssertionError(f"{folder}: no germline VCF of the index donor")


def _resend(folder: Path, vcf: Path, data: bytes) -> None:
    """Replace ``vcf`` by ``data`` and make the metadata's checksum and size match it."""
    vcf.write_bytes(data)
    meta = folder / "metadata" / "metadata.json"
    raw = json.loads(meta.read_text())
    relative = str(vcf.relative_to(folder / "files"))
    for donor in raw["donors"]:
        for lab in donor["labData"]:
            for entry in (lab.get("sequenceData") or {}).get("files", []):
                if entry["filePath"] == relative:
                    entry["fileChecksum"] = hashlib.sha256(data).hexdigest()
                    entry["fileSizeInBytes"] = len(data)
    meta.write_text(json.dumps(raw, indent=2))


def _rewrite_vcf(folder: Path, change: Callable[[list[str]], list[str]]) -> tuple[Path, str]:
    """Rewrite the index VCF's lines with ``change`` (BGZF again); its path and field."""
    vcf, field = _index_vcf(folder)
    lines = gzip.decompress(vcf.read_bytes()).decode().splitlines(keepends=True)
    _resend(folder, vcf, compress_bgzf("".join(change(lines)).encode()))
    return vcf, field


def _header_only(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("#")]


def _contig_without_chr(lines: list[str]) -> list[str]:
    return [line.removeprefix("chr") for line in lines]


def _extra_column(lines: list[str]) -> list[str]:
    """A sample column no donor of the submission has (a copy of the last one)."""
    def widen(line: str) -> str:
        if line.startswith("##"):
            return line
        fields = line.rstrip("\n").split("\t")
        return "\t".join([*fields, "NOT_A_DONOR" if line.startswith("#") else fields[-1]]) + "\n"
    return [widen(line) for line in lines]


def _intake(config: GenomlabConfig, folders: list[Path], hail: Any = refuse_hail) -> Any:
    return run_grz_intake(config, folders, node_id=GRZ, hail=hail, progress=lambda _m: None)[GRZ]


def _meldebestaetigungen(config: GenomlabConfig) -> list[dict[str, Any]]:
    pem = get_confirmation_public_key_pem(config)
    return [verify_confirmation_bytes(path.read_bytes(), pem) for path in
            sorted((config.home / "hospitals").glob("*/meldebestaetigungen/*.json"))]


def _row(config: GenomlabConfig, inbox_id: str) -> dict[str, Any]:
    return next(r for r in GenomeCenter(config, GRZ).get_submissions()
                if r["inbox_id"] == inbox_id)


@pytest.mark.parametrize(("change", "problem"), [
    (_header_only, "no variant record: a header-only VCF holds no genotypes"),
    (_contig_without_chr, "contig '1' is not a GRCh38 contig"),
    (_extra_column, "no column for donor 'index' (columns: "),
])
def test_grz_submit__bad_vcf_content_is_an_error_with_failure_pruefbericht(
        config, vns, world_copy, tmp_path, change, problem):
    folder = _copy_submission(world_copy, vns, 0, tmp_path / "inbox-1")
    vcf, field = _rewrite_vcf(folder, change)
    summary = _intake(config, [folder])
    assert summary.states == {"inbox-1": "error"}
    row = _row(config, "inbox-1")
    assert (row["failure_reason"], row["failure_field"]) == ("validation_error", field)
    assert row["failure_message"].startswith(f"{vcf.relative_to(folder / 'files')}: ")
    assert problem in row["failure_message"]
    assert GenomeCenter(config, GRZ).get_donors() == []  # never pseudonymised
    (confirmation,) = _meldebestaetigungen(config)
    assert confirmation["complete"] is False
    assert confirmation["confirmation_id"] == row["confirmation_id"]


def test_grz_submit__contig_1_named_in_the_error(config, vns, world_copy, tmp_path):
    folder = _copy_submission(world_copy, vns, 1, tmp_path / "inbox-2")
    lines = gzip.decompress(_index_vcf(folder)[0].read_bytes()).decode().splitlines()
    first_record = next(i for i, line in enumerate(lines, start=1) if not line.startswith("#"))
    _rewrite_vcf(folder, _contig_without_chr)
    _intake(config, [folder])
    assert _row(config, "inbox-2")["failure_message"].endswith(
        f": line {first_record}: contig '1' is not a GRCh38 contig (this GRZ stores GRCh38 "
        "names such as 'chr1')")


def test_grz_submit__truncated_gz_errors_the_valid_one_beside_it_goes_on(
        config, vns, world_copy, tmp_path):
    good = _copy_submission(world_copy, vns, 2, tmp_path / "inbox" / "good")
    bad = _copy_submission(world_copy, vns, 3, tmp_path / "inbox" / "bad")
    vcf, field = _index_vcf(bad)
    _resend(bad, vcf, vcf.read_bytes()[:-40])  # sent truncated: checksum of the cut file
    with pytest.raises(HailStarted):  # only the good one is left to store
        _intake(config, [good, bad], hail=stop_at_hail)
    row = _row(config, "bad")
    assert (row["state"], row["failure_field"]) == ("error", field)
    assert row["failure_message"].endswith(
        "normal.vcf.gz: truncated: the BGZF end-of-file block is missing")
    assert _row(config, "good")["state"] == "pseudonymised"


def test_grz_submit__fastq_cut_inside_a_record_is_refused_by_grz_check(
        config, vns, world_copy, tmp_path):
    """In-process intake runs BfArM's grz-check: an R2 FASTQ sent cut inside its last record
    (checksum and size of the cut file, which a sha256 check alone accepts) is the
    submission's error, naming R2, not its R1."""
    folder = _copy_submission(world_copy, vns, 5, tmp_path / "inbox-5")
    raw = json.loads((folder / "metadata" / "metadata.json").read_text())
    field, entry = next(
        (f"donors[{i}].labData[{j}].sequenceData.files[{k}]", entry)
        for i, donor in enumerate(raw["donors"]) if donor["relation"] == "index"
        for j, lab in enumerate(donor["labData"])
        for k, entry in enumerate((lab.get("sequenceData") or {}).get("files", []))
        if entry.get("readOrder") == "R2")
    fastq = folder / "files" / entry["filePath"]
    text = gzip.decompress(fastq.read_bytes())
    _resend(folder, fastq, gzip.compress(text[:text.rindex(b"\n+\n")], mtime=0))
    assert _intake(config, [folder]).states == {"inbox-5": "error"}
    row = _row(config, "inbox-5")
    assert (row["failure_reason"], row["failure_field"]) == ("validation_error", field)
    assert row["failure_message"].startswith(f"{entry['filePath']}: grz-check: ")
    assert "R2 record" in row["failure_message"]
    assert GenomeCenter(config, GRZ).get_donors() == []  # never pseudonymised


def test_grz_submit__stuck_submission_errors_on_rerun_and_frees_its_tan(
        config, vns, world_copy, tmp_path):
    """A submission an older intake let through (pseudonymised, header-only VCF) is moved to
    ``error`` when rerun; a corrected resubmission with the same tanG is then taken."""
    stuck = _copy_submission(world_copy, vns, 4, tmp_path / "run1" / "inbox-9")
    with pytest.raises(HailStarted):
        _intake(config, [stuck], hail=stop_at_hail)
    assert _row(config, "inbox-9")["state"] == "pseudonymised"
    _rewrite_vcf(stuck, _header_only)  # what the older intake had accepted
    assert _intake(config, [stuck]).states == {"inbox-9": "error"}
    assert "header-only" in _row(config, "inbox-9")["failure_message"]
    assert [c["complete"] for c in _meldebestaetigungen(config)] == [False]
    corrected = _copy_submission(world_copy, vns, 4, tmp_path / "run2" / "inbox-10")
    with pytest.raises(HailStarted):  # validated with the same tanG, on to storage
        _intake(config, [corrected], hail=stop_at_hail)
    row = _row(config, "inbox-10")
    assert (row["state"], row["tan_hash"]) == ("pseudonymised", _row(config, "inbox-9")["tan_hash"])
    taken = GenomeCenter(config, GRZ).get_donors()
    assert {d["inbox_id"] for d in taken} == {"inbox-9", "inbox-10"}


def test_grz_submit__tan_held_by_a_submission_not_failed_still_refused(config, vns, world_copy,
                                                             tmp_path):
    first = _copy_submission(world_copy, vns, 5, tmp_path / "run1" / "inbox-11")
    with pytest.raises(HailStarted):
        _intake(config, [first], hail=stop_at_hail)
    again = _copy_submission(world_copy, vns, 5, tmp_path / "run2" / "inbox-12")
    assert _intake(config, [again]).states == {"inbox-12": "error"}
    assert _row(config, "inbox-12")["failure_reason"] == "duplicate_tang"


def _bad_depth(lines: list[str]) -> list[str]:
    """The first record's DP of the first sample becomes ``x7``: only Hail's parser sees it."""
    i = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    fields = lines[i].split("\t")
    cell = fields[9].split(":")
    cell[2] = "x7"
    fields[9] = ":".join(cell)
    return [*lines[:i], "\t".join(fields), *lines[i + 1:]]


@pytest.mark.hail
@pytest.mark.slow
def test_grz_submit__bad_files_fail_alone_and_the_corrected_one_is_stored(
        config, vns, world_copy, tmp_path, hl, capfd):
    good = _copy_submission(world_copy, vns, 6, tmp_path / "run1" / "good")
    truncated = _copy_submission(world_copy, vns, 7, tmp_path / "run1" / "truncated")
    vcf, _ = _index_vcf(truncated)
    _resend(truncated, vcf, vcf.read_bytes()[:-40])
    unparsable = _copy_submission(world_copy, vns, 8, tmp_path / "run1" / "unparsable")
    _, field = _rewrite_vcf(unparsable, _bad_depth)
    capfd.readouterr()
    summary = _intake(config, [good, truncated, unparsable], hail=lambda: hl)
    assert summary.states["good"] in ("finished", "qc_selected")
    assert (summary.states["truncated"], summary.states["unparsable"]) == ("error", "error")
    assert "truncated" in _row(config, "truncated")["failure_message"]
    row = _row(config, "unparsable")
    assert row["failure_field"] == field
    assert row["failure_message"].startswith("normal.vcf.gz: genotype import failed: ")
    assert "\n" not in row["failure_message"]
    (failure,) = [c for c in _meldebestaetigungen(config)
                  if c["confirmation_id"] == row["confirmation_id"]]
    assert failure["complete"] is False  # the import failure was reported, not billable
    out = capfd.readouterr()
    assert "\tat is.hail" not in out.out + out.err  # no Java stack trace on the console
    grz = GenomeCenter(config, GRZ)
    in_batches = {s for store in STORES for path in grz.get_batch_paths(store)
                  for s in hl.read_matrix_table(path).s.collect()}
    assert in_batches == {d["genome_pseudonym"] for d in grz.get_donors()
                          if d["inbox_id"] == "good"}
    assert list((config.tmp_dir / "grz" / GRZ).rglob("*.vcf")) == []  # no merged VCF left
    corrected = _copy_submission(world_copy, vns, 7, tmp_path / "run2" / "corrected")
    assert _intake(config, [corrected], hail=lambda: hl).states["corrected"] in (
        "finished", "qc_selected")
    tan = json.loads((corrected / "metadata" / "metadata.json").read_text())["submission"]["tanG"]
    assert sorted(c["complete"] for c in _meldebestaetigungen(config)
                  if c["tan"].lower() == tan.lower()) == [False, True]
