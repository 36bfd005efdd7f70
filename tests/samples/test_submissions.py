"""GRZ submissions: valid ones pass grz-pydantic-models, bad ones fail for their stated reason."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from grz_pydantic_models.submission.metadata.v1 import GrzSubmissionMetadata
from pydantic import ValidationError


def _metadata(world: Path, rel: str) -> dict:
    return json.loads((world / rel / "metadata" / "metadata.json").read_text())


def _file_mismatches(world: Path, rel: str, meta: dict) -> list[str]:
    bad = []
    for donor in meta["donors"]:
        for datum in donor["labData"]:
            for f in datum.get("sequenceData", {}).get("files", []):
                data = (world / rel / "files" / f["filePath"]).read_bytes()
                if (hashlib.sha256(data).hexdigest() != f["fileChecksum"]
                        or len(data) != f["fileSizeInBytes"]):
                    bad.append(f["filePath"])
    return bad


def test_metadata__every_good_submission_validates_and_its_files_match(
        world: Path, truth: dict) -> None:
    bad = {b["path"] for b in truth["bad_submissions"]}
    good = [s["path"] for s in truth["submissions"]]
    assert len(good) > 80
    assert {s["type"] for s in truth["submissions"]} >= {"initial", "correction"}
    for rel in good:
        assert rel not in bad
        meta = _metadata(world, rel)
        parsed = GrzSubmissionMetadata.model_validate(meta)
        assert parsed.submission_id == rel.split("/")[-1]
        assert _file_mismatches(world, rel, meta) == []


def test_metadata__tan_g_is_unique_among_good_submissions(truth: dict) -> None:
    counts = Counter(s["tan_g"] for s in truth["submissions"])
    assert max(counts.values()) == 1


def test_metadata__bad_submissions_fail_for_their_reason(world: Path, truth: dict) -> None:
    tans = {s["tan_g"] for s in truth["submissions"]}
    reasons = set()
    for entry in truth["bad_submissions"]:
        meta = _metadata(world, entry["path"])
        reasons.add(entry["reason"])
        if entry["reason"] in ("schema_violation", "below_threshold_coverage"):
            with pytest.raises(ValidationError) as info:
                GrzSubmissionMetadata.model_validate(meta)
            leaf = entry["field"].split(".")[-1]
            assert leaf in str(info.value) or "Mean depth of coverage" in str(info.value)
        elif entry["reason"] == "checksum_mismatch":
            GrzSubmissionMetadata.model_validate(meta)
            assert _file_mismatches(world, entry["path"], meta)
        else:
            GrzSubmissionMetadata.model_validate(meta)
            assert meta["submission"]["tanG"] in tans
    assert reasons == {"schema_violation", "checksum_mismatch", "reused_tanG",
                       "below_threshold_coverage"}


def test_metadata__research_consent_matches_truth(world: Path, truth: dict) -> None:
    by_sample = {s["sample"]: s for s in truth["samples"]}
    initial = [s for s in truth["submissions"] if s["type"] == "initial"]
    seen = set()
    for sub in initial:
        meta = GrzSubmissionMetadata.model_validate(_metadata(world, sub["path"]))
        for donor, sample in zip(meta.donors, sub["samples"], strict=True):
            state = by_sample[sample]["research_consent"]
            seen.add(state)
            consents = donor.consents_to_research(meta.submission.submission_date)
            assert consents == (state == "permit"), (sub["path"], sample)
    assert seen == {"permit", "deny", "missing"}


def test_clinical_records__one_per_index_with_the_planted_hpo_term(
        world: Path, truth: dict) -> None:
    hpo = next(a["phenotype"] for a in truth["associations"] if a["phenotype"] != "quant_trait")
    index = [s for s in truth["samples"] if s["relation"] == "index"]
    assert all("kdk_record" in s for s in index)
    for s in index:
        record = json.loads((world / s["kdk_record"]).read_text())
        assert record["metaData"]["tanC"] == s["tan_c"]
        case = record["case"]
        terms = (case["diagnosisOd"]["hpoTerms"] if "diagnosisOd" in case
                 else case["diagnosisRd"]["phenotypes"])
        assert (hpo in {t["code"] for t in terms}) == s["hpo_affected"]
