"""Released outputs are recorded relative to the home, so a moved home still finds them."""

from __future__ import annotations

import shutil
from pathlib import Path

from genomlab.airlock.requests import (
    get_released_tables,
    open_airlock_ledger,
    record_review,
    submit_request,
)
from tests.airlock.conftest import Project
from tests.conftest import copy_home


def test_get_released_tables__after_the_home_moved(project: Project, tmp_path: Path) -> None:
    cfg, d = project.config, project.directory
    project.write("by_sex.csv", "sex,n\nF,60\nM,55\n")
    request_id = submit_request(cfg, d, "alice", project.project, ["by_sex.csv"])
    record_review(cfg, d, "hanna", request_id, "approve", "ok")
    record_review(cfg, d, "ute", request_id, "approve", "ok")
    [event] = open_airlock_ledger(cfg).events(type="airlock.request.released")
    assert event.payload["files"][0]["released_path"] == (
        f"airlock/released/{project.project}/{request_id}/by_sex.csv")

    moved = copy_home(cfg.home, tmp_path / "moved")
    shutil.rmtree(cfg.home)
    tables = get_released_tables(moved, project.project)
    assert tables[f"{request_id}/by_sex.csv"]["n"].to_list() == [60, 55]
