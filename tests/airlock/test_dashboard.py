"""The Voila airlock dashboard in headless Chromium: two checkers approve, the author cannot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from genomlab.airlock.requests import get_released_dir, open_airlock_ledger, submit_request
from tests.airlock.conftest import Project
from tests.conftest import write_config_file

BY_REGION = "region,n\nNorth,41\nSouth,38\n"
BROKEN = ("Error displaying widget", "Failed to load model")


def _decide(page, url: str, reason: str) -> str:
    page.goto(url, timeout=120_000)
    page.wait_for_selector("table.genomlab-airlock-files", timeout=120_000)
    page.fill(".genomlab-airlock-reason textarea", reason)
    page.click(".genomlab-airlock-approve")
    page.wait_for_selector(".genomlab-airlock-message p", timeout=60_000)
    content = page.content()
    assert not any(text in content for text in BROKEN)
    return page.inner_text(".genomlab-airlock-message")


@pytest.mark.browser
@pytest.mark.slow
def test_airlock_dashboard__two_checkers_release_author_cannot(
    project: Project, voila, page, tmp_path: Path
) -> None:
    project.write("by_region.csv", BY_REGION)
    request_id = submit_request(project.config, project.directory, "alice", project.project,
                                ["by_region.csv"])
    cfg = str(write_config_file(project.config, tmp_path / "genomlab.toml"))
    urls = {user: voila("airlock.ipynb", env={"GENOMLAB_CONFIG": cfg, "JUPYTERHUB_USER": user})
            for user in ("alice", "hanna", "ute")}

    refused = _decide(page, urls["alice"], "looks fine to me")
    assert "Refused" in refused
    assert "alice is not an output checker" in refused
    assert "by_region.csv" in page.inner_text("table.genomlab-airlock-files")
    assert "all checks pass" in page.inner_text("table.genomlab-airlock-files")

    first = _decide(page, urls["hanna"], "counts 41 and 38, no identifiers")
    assert first == f"{request_id}: partially_reviewed"
    assert not get_released_dir(project.config, project.project).exists()

    second = _decide(page, urls["ute"], "agree: aggregate, above threshold")
    assert second == f"{request_id}: released"
    assert "released:" in page.inner_text("table.genomlab-airlock-files")

    released = get_released_dir(project.config, project.project) / request_id / "by_region.csv"
    assert released.read_text() == BY_REGION
    assert not released.is_relative_to(project.config.workspace_dir(project.project))
    [event] = open_airlock_ledger(project.config).events(type="airlock.request.released")
    assert event.payload["files"] == [{
        "name": "by_region.csv", "sha256": hashlib.sha256(BY_REGION.encode()).hexdigest(),
        "released_path": str(released.relative_to(project.config.home))}]  # the home can move
    reviewers = [e.actor for e in open_airlock_ledger(project.config).events(
        type="airlock.review.recorded")]
    assert reviewers == ["hanna", "ute"]
