"""The Voila airlock dashboard in headless Chromium: a checker sees each output and decides per
file (one Voila server for the module)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from genomlab.airlock.directory import PlatformDirectory
from genomlab.airlock.requests import (
    get_outputs_dir,
    get_released_dir,
    get_request_detail,
    record_file_review,
    submit_request,
)
from genomlab.config import GenomlabConfig
from tests.a11y import get_accessibility_violations
from tests.browser_checks import read_page_table
from tests.conftest import config_for, write_config_file
from tests.people_credentials import credentials_for
from tests.platform.conftest import approve_application
from tests.voila_servers import serve_voila

BY_REGION = "region,n\nNorth,41\nSouth,38\n"
BROKEN = ("Error displaying widget", "Failed to load model")
CHANGES = "Label the y axis and merge bins below 10"


@dataclass
class Served:
    config: GenomlabConfig
    project: str
    request_id: str
    url: str


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (31, 119, 180)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A request of a table and a figure (with its data); ute approved the two tables, not the
    figure yet; the dashboard served for hanna, another checker."""
    tmp = tmp_path_factory.mktemp("airlock-dashboard")
    config = config_for(tmp / "home")
    project, _ = approve_application(config)
    outputs = get_outputs_dir(config, project)
    outputs.mkdir(parents=True)
    (outputs / "by_region.csv").write_text(BY_REGION)
    (outputs / "plot.png").write_bytes(_png(64, 32))
    (outputs / "plot.csv").write_text("bin,count\n1,30\n2,40\n")
    directory = PlatformDirectory(config)
    request_id = submit_request(config, directory, "alice", project, ["by_region.csv",
                                                                      "plot.png"])
    for name in ("by_region.csv", "plot.csv"):
        record_file_review(config, directory, "ute", request_id, name, "approve",
                           f"ute: {name} aggregate")
    cfg = str(write_config_file(config, tmp / "genomlab.toml"))
    with serve_voila(tmp, {"GENOMLAB_CONFIG": cfg,
                           "GENOMLAB_CREDENTIALS": str(credentials_for(config, "hanna"))},
                     notebook="airlock.ipynb") as url:
        yield Served(config, project, request_id, url)


def _file_box(page: Any, name: str) -> Any:
    return page.locator(f".genomlab-airlock-file:has(.genomlab-airlock-name:text-is('{name}'))")


def _decide(page: Any, name: str, decision: str, reason: str) -> str:
    box = _file_box(page, name)
    box.locator(".genomlab-airlock-reason textarea").fill(reason)
    box.locator(f".genomlab-airlock-{decision}").click()
    page.wait_for_selector(f".genomlab-airlock-message p:has-text('{name}:')", timeout=60_000)
    return page.inner_text(".genomlab-airlock-message")


@pytest.mark.browser
@pytest.mark.slow
def test_airlock_dashboard__checker_sees_each_output_and_decides_per_file(
        served: Served, page: Any) -> None:
    page.goto(served.url, timeout=120_000)
    page.wait_for_selector(".genomlab-airlock-file", timeout=120_000)
    assert page.title() == "Airlock: output checking · genomlab"
    assert _file_box(page, "by_region.csv").count() == 1
    # the table's content, rendered
    table = read_page_table(page, ".genomlab-airlock-file:has(.genomlab-airlock-name:"
                                  "text-is('by_region.csv')) table.genomlab-airlock-preview")
    assert table.to_dict("list") == {"region": ["North", "South"], "n": ["41", "38"]}
    # the figure, displayed at its size
    image = _file_box(page, "plot.png").locator("img.genomlab-airlock-image")
    assert image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [
        True, 64, 32]
    # the checks and the first checker's decision beside each file
    checks = _file_box(page, "by_region.csv").locator(".genomlab-airlock-checks").inner_text()
    assert "Disclosure checks: pass" in checks
    assert "min_cell_count: pass" in checks
    assert "ute: Approve — ute: by_region.csv aggregate" in checks
    assert page.locator(".genomlab-airlock-approve").count() == 3
    assert "none yet" in _file_box(page, "plot.png").inner_text()

    violations = get_accessibility_violations(page)
    assert violations == [], "\n".join(violations)

    first = _decide(page, "plot.png", "changes", CHANGES)
    assert first == f"plot.png: Request changes recorded; {served.request_id} is partially_reviewed"
    decided = _file_box(page, "plot.png")  # only hanna's decision so far: hidden from her
    assert decided.locator(".genomlab-airlock-approve, .genomlab-airlock-reason").count() == 0
    assert decided.locator(".genomlab-airlock-mine").inner_text() == "You decided: Request changes"
    assert f"hanna: Request changes — {CHANGES}" in decided.inner_text()
    assert page.locator(".genomlab-airlock-approve").count() == 2

    _decide(page, "by_region.csv", "approve", "41 and 38 people, no identifiers")
    last = _decide(page, "plot.csv", "approve", "bins of 30 and 40")
    assert last == f"plot.csv: Approve recorded; {served.request_id} is partially_reviewed"
    page.screenshot(path=str(Path(served.config.home).parent / "airlock.png"), full_page=True)
    assert page.locator(".genomlab-airlock-approve, .genomlab-airlock-reject").count() == 0
    assert not any(text in page.content() for text in BROKEN)
    # the figure's second decision: hanna's request for changes decides the request
    assert record_file_review(served.config, PlatformDirectory(served.config), "ute",
                              served.request_id, "plot.png", "approve", "fine") == \
        "changes_requested"

    detail = get_request_detail(served.config, served.request_id)
    png = next(f for f in detail.files if f["name"] == "plot.png")
    assert [(d["reviewer"], d["decision"], d["reason"]) for d in png["decisions"]] == [
        ("hanna", "changes", CHANGES), ("ute", "approve", "fine")]
    assert not get_released_dir(served.config, served.project).exists()
