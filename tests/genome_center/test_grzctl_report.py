"""``genomlab grz report``: grzctl's quarterly report over an in-process GRZ's grz-db (no Hail).

The in-process intake writes grz-db as grzctl does (:mod:`genomlab.genome_center.grz_record`);
``grzctl report quarterly`` runs over it with a minimal configuration
(:mod:`genomlab.genome_center.grzctl_report`). Its tables are checked against genomlab's own
submission rows and the platform's monitoring counts of the same submissions.
"""

from __future__ import annotations

import csv
import json
import shutil
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from click.testing import CliRunner

from genomlab import clock
from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.genome_center.grzctl_pipeline import read_grzctl_quarterly
from genomlab.genome_center.grzctl_report import PLACEHOLDER, REPORT_CONFIG
from genomlab.genome_center.intake import GenomeCenter
from genomlab.intake import request_world_case_numbers, run_grz_intake
from genomlab.platform.quarterly import compute_node_activity
from tests.conftest import write_config_file
from tests.genome_center.conftest import refuse_hail


def _without_vcf(source: Path, target: Path) -> Path:
    """A copy of a world submission with its VCFs removed (stored without Hail)."""
    shutil.copytree(source, target)
    path = target / "metadata" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    for donor in metadata["donors"]:
        for lab in donor["labData"]:
            files = (lab.get("sequenceData") or {}).get("files", [])
            for entry in [f for f in files if f["fileType"] == "vcf"]:
                (target / "files" / entry["filePath"]).unlink()
                files.remove(entry)
    path.write_text(json.dumps(metadata), encoding="utf-8")
    return target


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_grz_report__grzctl_tables_match_genomlab_records_and_platform_counts(
        config: GenomlabConfig, world: dict[str, Any], world_copy: Path, tmp_path: Path) -> None:
    request_world_case_numbers(config, world_copy)
    bad = next(b for b in world["bad_submissions"] if b["reason"] == "checksum_mismatch")
    grz_of = {s["submission_id"]: s["grz"] for s in world["submissions"]}
    grz = grz_of[bad["derived_from"]]  # refused after grz-db registered it
    mine = [s for s in world["submissions"] if s["grz"] == grz]
    folders = [_without_vcf(world_copy / s["path"], tmp_path / "inbox" / f"sub-{i}")
               for i, s in enumerate(mine[:2])]
    folders.append(world_copy / bad["path"])
    for folder in folders:
        run_grz_intake(config, [folder], node_id=grz, hail=refuse_hail,
                       progress=lambda _m: None)
    every = GenomeCenter(config, grz).get_submissions()
    refused = [r for r in every if r["state"] == "error"]
    assert len(refused) == 1
    assert refused[0]["submission_id"] is None  # genomlab keeps no id of a refused one

    def quarter_of(sid: str) -> tuple[int, int]:  # the id holds the submission date
        day = sid.split("_")[1]
        return int(day[:4]), (int(day[5:7]) - 1) // 3 + 1

    year, quarter = quarter_of(bad["derived_from"])  # the refused copy's date
    rows = {r["submission_id"]: r for r in every
            if r["submission_id"] and quarter_of(r["submission_id"]) == (year, quarter)}
    assert rows

    grz_ledger = GenomeCenter(config, grz).ledger  # a withdrawal in the quarter, one after it
    for day in (f"{year}-{3 * quarter - 1:02d}-15", f"{year + 1}-{3 * quarter - 1 - 9:02d}-15"
                if quarter == 4 else f"{year}-{3 * quarter + 2:02d}-15"):
        with clock.use_clock(clock.ticking_from(datetime.fromisoformat(f"{day}T09:00:00+00:00"))):
            grz_ledger.append("donor.research_withdrawn", {
                "inbox_id": f"inbox-{day}", "genome_pseudonym": f"GDP1-{day}"}, actor="grz")

    toml = write_config_file(config, tmp_path / "genomlab.toml")
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["--config", str(toml), "grz", "report", "--node", grz,
                                       "--year", str(year), "--quarter", str(quarter),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 4
    written = config.institution_dir("grz", grz) / "grzctl" / REPORT_CONFIG
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert PLACEHOLDER in written.read_text()

    tables = read_grzctl_quarterly(out, grz, year, quarter)
    datasets = {r["submission_id"]: r for r in tables["datasets"]}
    refused_ids = [sid for sid, row in datasets.items() if sid not in rows]
    assert len(refused_ids) == 1  # grz-db holds the refused one under its id
    assert datasets[refused_ids[0]]["data_quality_check_passed"] == "no"
    assert quarter_of(refused_ids[0]) == (year, quarter)
    for sid, own in rows.items():
        row = datasets[sid]
        assert (row["genomicDataCenterId"], row["submitterId"], row["submissionType"],
                row["diseaseType"], row["coverageType"], row["data_quality_check_passed"]) == (
            grz, own["submitter_id"], own["submission_type"], own["disease_type"],
            own["coverage_type"], "yes"), sid
    (overview,) = tables["overview"]
    assert int(overview["number_of_submissions_total"]) == len(rows) + 1
    studies = [own["genomic_study_type"] for own in rows.values()]
    studies.append(next(s["study_type"] for s in world["submissions"]
                        if s["submission_id"] == bad["derived_from"]))
    for study in ("single", "duo", "trio"):
        assert int(overview[f"number_of_submissions_{study}"]) == studies.count(study)

    activity = compute_node_activity(config, period="quarter").filter(
        (pl.col("node_id") == grz) & (pl.col("period") == f"{year}-Q{quarter}"))
    assert activity["confirmations"].sum() == len(rows) + 1 == activity["genomic"].sum()
    assert activity["qc_passed"].sum() == sum(
        r["data_quality_check_passed"] == "yes" for r in datasets.values())

    (withdrawals,) = _read_tsv(next(out.glob(f"4-genomlab_*_{grz}_{quarter}_{year}.tsv")))
    assert withdrawals["grz"] == grz
    assert withdrawals["deletions"] == "0"
    assert withdrawals["research_consent_revocations"] == "1"
