"""GRZ intake refuses odd inbox folders with one line, before anything is recorded (no Hail).

Folders are built in ``tmp_path`` from the world's submissions; every run gets a Hail starter
that fails the test if called, because a refused folder must never reach genotype storage.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from genomlab.intake import request_world_case_numbers, run_grz_intake
from tests.conftest import write_config_file
from tests.genome_center.conftest import HailStarted, refuse_hail, stop_at_hail

GRZ = "GRZK00001"


def _submission(world_copy: Path, world: dict[str, Any], n: int) -> Path:
    """The ``n``-th good world submission of :data:`GRZ`."""
    return world_copy / [s for s in world["submissions"] if s["grz"] == GRZ][n]["path"]


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _intake(config: GenomlabConfig, folder: Path, hail: Any = refuse_hail) -> Any:
    return run_grz_intake(config, [folder], node_id=GRZ, hail=hail,
                          progress=lambda _m: None)[GRZ]


def _cli(config: GenomlabConfig, tmp_path: Path, *args: str) -> Any:
    """``genomlab grz submit ARGS`` as the command line runs it (one-line errors, exit 1)."""
    toml = write_config_file(config, tmp_path / "genomlab.toml")
    return CliRunner().invoke(main, ["--config", str(toml), "grz", "submit", *args])


def test_grz_submit__folder_without_metadata_json_fails(config, world, world_copy, tmp_path):
    folder = tmp_path / "inbox" / "no-metadata"
    shutil.copytree(_submission(world_copy, world, 0) / "files", folder / "files")
    run = _cli(config, tmp_path, str(folder))
    assert run.exit_code == 1
    assert f"Error: {folder}/metadata/metadata.json: not found" in run.output
    assert GenomeCenter(config, GRZ).get_submissions() == []


def _break_metadata(path: Path, how: str) -> None:
    text = path.read_text(encoding="utf-8")
    if how == "latin1":
        path.write_bytes(text.replace('"submission"', '"submissi\u00f6n"', 1).encode("latin-1"))
    elif how == "deep":
        path.write_text(text[:-1].rstrip().rstrip("}") + ', "x": ' + "[" * 200_000
                        + "]" * 200_000 + "}")
    else:  # the tanG twice: a reader keeps one of them silently
        path.write_text(text.replace('"tanG":', f'"tanG": "{"0" * 64}", "tanG":', 1))


@pytest.mark.parametrize(("how", "field"), [
    ("latin1", "metadata: not UTF-8"),
    ("deep", "metadata: nested 200"),
    ("duplicate", "submission.tanG: duplicate key 'tanG'"),
])
def test_run_grz_intake__unreadable_metadata_refused(config, world, world_copy, tmp_path,
                                                    how, field):
    folder = _copy(_submission(world_copy, world, 1), tmp_path / "sub")
    _break_metadata(folder / "metadata" / "metadata.json", how)
    grz_node = GenomeCenter(config, GRZ)
    head = grz_node.ledger.head()
    summary = _intake(config, folder)
    assert list(summary.refused) == [str(folder)]
    reason = summary.refused[str(folder)]
    assert reason.startswith(f"sub/metadata/metadata.json: field {field.split(':')[0]}")
    assert field.split(": ", 1)[1] in reason
    assert "\n" not in reason
    assert grz_node.get_submissions() == []
    assert grz_node.ledger.head() == head


def test_grz_submit__too_deep_metadata_without_node_one_line(config, world, world_copy,
                                                            tmp_path):
    folder = _copy(_submission(world_copy, world, 1), tmp_path / "deep")
    _break_metadata(folder / "metadata" / "metadata.json", "deep")
    run = _cli(config, tmp_path, str(folder))
    assert run.exit_code == 1
    assert isinstance(run.exception, SystemExit)  # the CLI's own error, not a traceback
    assert f"Error: {folder}/metadata/metadata.json: field document: nested 200002" in run.output


def test_run_grz_intake__files_folder_linked_to_another_submission_refused(
        config, world, world_copy, tmp_path):
    request_world_case_numbers(config, world_copy)
    other = _submission(world_copy, world, 2)
    folder = tmp_path / "linked"
    shutil.copytree(other / "metadata", folder / "metadata")
    (folder / "files").symlink_to(other / "files", target_is_directory=True)
    summary = _intake(config, folder)
    assert summary.refused[str(folder)].startswith("linked/files: field files: files/ is a link")
    assert GenomeCenter(config, GRZ).get_submissions() == []


def test_run_grz_intake__inbox_id_of_an_older_submission_refused(config, world, world_copy,
                                                                tmp_path):
    request_world_case_numbers(config, world_copy)
    first = _copy(_submission(world_copy, world, 3), tmp_path / "run1" / "inbox-7")
    with pytest.raises(HailStarted):  # stops after pseudonymising, as a crash would
        _intake(config, first, hail=stop_at_hail)
    grz_node = GenomeCenter(config, GRZ)
    (old,) = grz_node.get_submissions()
    assert old["state"] == "pseudonymised"
    head = grz_node.ledger.head()
    later = tmp_path / "run2" / "inbox-7"  # another submission in a folder of the same name,
    shutil.copytree(_submission(world_copy, world, 4) / "metadata", later / "metadata")
    (later / "files").mkdir()  # without its files
    summary = _intake(config, later)
    assert summary.refused[str(later)] == (
        f"inbox-7/metadata/metadata.json: field submission.tanG: inbox id inbox-7 is already "
        f"submission {old['submission_id']} (pseudonymised) with another tanG; folder refused, "
        "that submission unchanged")
    assert grz_node.get_submissions() == [old]
    assert grz_node.ledger.head() == head


def test_run_grz_intake__resumed_submission_files_checked_again(config, world, world_copy,
                                                               tmp_path):
    request_world_case_numbers(config, world_copy)
    folder = _copy(_submission(world_copy, world, 5), tmp_path / "inbox-8")
    with pytest.raises(HailStarted):
        _intake(config, folder, hail=stop_at_hail)
    grz_node = GenomeCenter(config, GRZ)
    (before,) = grz_node.get_submissions()
    head = grz_node.ledger.head()
    vcf = next((folder / "files").rglob("*.vcf.gz"))
    vcf.write_bytes(vcf.read_bytes()[:-10])  # truncated after validation
    summary = _intake(config, folder)
    assert summary.refused[str(folder)].startswith("inbox-8/files: field donors[0].labData[0]"
                                                   ".sequenceData.files[")
    assert grz_node.get_submissions() == [before]
    assert grz_node.ledger.head() == head


def test_run_grz_intake__submission_without_vcf_stored_and_confirmed_without_hail(
        config, world, world_copy, tmp_path):
    """BfArM accepts a submission without a VCF (only recommended): stored without genotypes,
    reported, and the hospital gets a complete Meldebestätigung; Hail is never started."""
    import json

    request_world_case_numbers(config, world_copy)
    folder = _copy(_submission(world_copy, world, 6), tmp_path / "inbox-9")
    path = folder / "metadata" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    removed = 0
    for donor in metadata["donors"]:
        for lab in donor["labData"]:
            files = (lab.get("sequenceData") or {}).get("files", [])
            for entry in [f for f in files if f["fileType"] == "vcf"]:
                (folder / "files" / entry["filePath"]).unlink()
                files.remove(entry)
                removed += 1
    path.write_text(json.dumps(metadata), encoding="utf-8")
    assert removed
    _intake(config, folder)
    (row,) = GenomeCenter(config, GRZ).get_submissions()
    assert row["state"] in {"qc_selected", "finished"}
    hospital = metadata["submission"]["submitterId"]
    (confirmation,) = (config.home / "hospitals" / hospital / "meldebestaetigungen").glob("*")
    assert json.loads(confirmation.read_text())["body"]["complete"] is True
