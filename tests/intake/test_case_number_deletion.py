"""One case number per submission, deleted at every party once delivery is confirmed (issue 18).

The hospital's TAN is the trust centre's case number (no second number, no mapping); after the
node's Prüfbericht got a complete Meldebestätigung, byte scans of the node's inbox and archive
and of the hospital's book find no delivered TAN. Genotype storage is not the subject: the GRZ
here stores no genotypes (``_sources_of`` gives none), so no Hail starts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genomlab.errors import ConflictError
from genomlab.genome_center.intake import GenomeCenter
from genomlab.intake import (
    REDACTED_TAN,
    archive_delivered,
    get_archive,
    get_case_book,
    get_inbox,
    register_world_nodes,
    request_world_case_numbers,
    run_grz_intake,
    run_kdk_intake,
    upload_world_inputs,
)
from genomlab.trust_center.service import TrustCenter
from tests.conftest import REPO, config_for

GRZ, KDK = "GRZHD0003", "KDKHD0002"


def _files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def _holding(tans: set[str], files: list[Path]) -> dict[str, Path]:
    """Each TAN of ``tans`` that occurs (either case) in a file's bytes, with that file."""
    found = {}
    for path in files:
        data = path.read_bytes().lower()
        found.update({tan: path for tan in tans if tan.lower().encode() in data})
    return found


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """One GRZ's and one KDK's inbox taken in; the TANs of what they delivered."""
    world = tmp_path_factory.mktemp("w") / "world"
    shutil.copytree(REPO / "data_samples" / "world", world)
    config = config_for(tmp_path_factory.mktemp("home") / "home")
    register_world_nodes(config, world, actor="test")
    request_world_case_numbers(config, world)
    inboxes = upload_world_inputs(config, world)
    patch = pytest.MonkeyPatch()
    patch.setattr(GenomeCenter, "_sources_of", lambda *_args: [])
    try:
        run_grz_intake(
            config,
            inboxes[GRZ],
            node_id=GRZ,
            hail=lambda: pytest.fail("no Hail"),
            progress=lambda _m: None,
        )
    finally:
        patch.undo()
    run_kdk_intake(config, inboxes[KDK])
    truth = json.loads((world / "truth.json").read_text())
    grz = {row["inbox_id"]: row["state"] for row in GenomeCenter(config, GRZ).get_submissions()}
    tan_g = {
        s["tan_g"]
        for s in truth["submissions"]
        if grz.get(Path(s["path"]).name) in ("reported", "qc_selected", "finished")
    }
    tan_c = {
        s["tan_c"] for s in truth["samples"] if s.get("kdk_record", "").startswith(f"kdk/{KDK}/")
    }
    before = {
        "node": _holding(
            tan_g | tan_c, _files(get_inbox(config, "grz", GRZ), get_inbox(config, "kdk", KDK))
        ),
        "book": _holding(tan_g | tan_c, _files(config.home / "hospitals")),
    }
    archived = {
        "grz": archive_delivered(config, "grz", GRZ),
        "kdk": archive_delivered(config, "kdk", KDK),
    }
    return config, world, truth, tan_g, tan_c, before, archived


def test_archive_delivered__no_case_number_left_in_inbox_archive_or_hospital_book(delivered):
    config, _, _, tan_g, tan_c, before, archived = delivered
    assert len(tan_g) >= 5
    assert len(tan_c) >= 5
    assert archived["grz"] == len(tan_g)
    assert archived["kdk"] == len(tan_c)
    assert set(before["node"]) == tan_g | tan_c  # the scan finds them while they are there
    # a hospital book still holds what is not yet confirmed (the other nodes' TANs)
    books = _files(config.home / "hospitals")
    assert any(p.name == "case_book.json" for p in books)
    node_files = _files(
        *(
            f(config, kind, node)
            for f in (get_inbox, get_archive)
            for kind, node in (("grz", GRZ), ("kdk", KDK))
        )
    )
    assert _holding(tan_g | tan_c, node_files) == {}
    assert _holding(tan_g | tan_c, [p for p in books if p.name == "case_book.json"]) == {}


def test_archive_delivered__archive_keeps_the_input_with_its_tan_zeroed(delivered):
    config, _, _truth, tan_g, _, _, _ = delivered
    archive = get_archive(config, "grz", GRZ)
    folders = sorted(archive.iterdir())
    assert len(folders) == len(tan_g)
    meta = json.loads((folders[0] / "metadata" / "metadata.json").read_text())
    assert meta["submission"]["tanG"] == REDACTED_TAN
    assert (folders[0] / "files").is_dir()
    records = sorted(get_archive(config, "kdk", KDK).glob("*.json"))
    assert all(p.name.startswith("rec-") for p in records)
    assert {json.loads(p.read_text())["metaData"]["tanC"] for p in records} == {REDACTED_TAN}
    assert not any(
        p.name in {f.name for f in folders} for p in get_inbox(config, "grz", GRZ).iterdir()
    )


def test_request_world_case_numbers__the_submissions_tan_is_the_trust_centres_number(delivered):
    """No second number: the TAN in the metadata is refused as spent after delivery, and the
    Meldebestätigung names that same TAN."""
    config, _, _, tan_g, _, _, _ = delivered
    tan = sorted(tan_g)[0]
    with pytest.raises(ConflictError, match="already used"):
        TrustCenter(config).exchange_case_number(tan, node_id=GRZ, domain="genomic")
    confirmations = [
        json.loads(p.read_text())["body"]["tan"].lower()
        for p in (config.home / "hospitals").glob("*/meldebestaetigungen/*.json")
    ]
    assert tan_g <= set(confirmations)


def test_upload_world_inputs__archived_inputs_are_not_sent_again(delivered):
    config, world, _, tan_g, _, _, _ = delivered
    inboxes = upload_world_inputs(config, world)
    assert not {p.name for p in inboxes[GRZ]} & {
        p.name for p in get_archive(config, "grz", GRZ).iterdir()
    }
    assert _holding(tan_g, _files(get_inbox(config, "grz", GRZ))) == {}
    assert archive_delivered(config, "grz", GRZ) == 0


def test_make_platform_reporter__incomplete_confirmation_keeps_the_hospitals_tan(delivered):
    """A failed QC (incomplete Meldebestätigung) keeps the TAN in the hospital's book for the
    corrected resubmission; the complete one deletes it with its relatives' references."""
    from genomlab.intake import make_platform_reporter

    config = delivered[0]
    ik, tan = "260530103", "c0ffee" * 10 + "abcd"
    book = get_case_book(config, ik)
    book.add({tan: "AN-index", f"{tan}:S00042": "AN-mother", "ab" * 32: "AN-other"})
    case = {
        "submissionDate": "2025-07-01",
        "submissionType": "initial",
        "tan": tan.upper(),
        "submitterId": ik,
        "dataNodeId": GRZ,
        "diseaseType": "rare",
        "dataCategory": "genomic",
        "libraryType": "wgs",
        "coverageType": "GKV",
        "dataQualityCheckPassed": False,
    }
    report = make_platform_reporter(config, GRZ)
    report({"SubmittedCase": case})
    assert get_case_book(config, ik).lookup(tan) == "AN-index"
    report({"SubmittedCase": {**case, "dataQualityCheckPassed": True}})
    left = get_case_book(config, ik).entries
    assert (tan in left, f"{tan}:S00042" in left, left["ab" * 32]) == (False, False, "AN-other")
