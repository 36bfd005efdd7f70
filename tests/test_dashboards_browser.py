"""Every dashboard in headless Chromium from one Voila server for the module: a decider's case
file, and an accessibility check (axe: labels, headings, contrast) on each page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.demo import attach_demo_documents, run_applications_demo
from genomlab.platform.applications.entitlements import get_signed_approval
from genomlab.platform.applications.queries import get_application_detail
from tests.a11y import get_accessibility_violations
from tests.browser_checks import read_page_table
from tests.conftest import config_for, write_config_file
from tests.people_credentials import credentials_for
from tests.platform.conftest import make_form
from tests.voila_servers import render_url, serve_voila

BROKEN = ("Error displaying widget", "Failed to load model")
RECOMMENDATION = "Complete and proportionate; recommend approval for 12 months."
DASHBOARDS = {  # notebook: (title, a selector present once the live widgets are up)
    "approvals.ipynb": ("Data-use applications: review · genomlab", ".genomlab-approvals"),
    "airlock.ipynb": ("Airlock: output checking · genomlab", ".genomlab-airlock"),
    "platform.ipynb": ("Platform dashboard: data nodes · genomlab", ".genomlab-platform-summary"),
    "ledger_health.ipynb": ("Ledger health · genomlab", ".genomlab-ledger-health"),
    "register.ipynb": (None, ".genomlab-register-view"),
}


@dataclass
class Served:
    config: GenomlabConfig
    application_id: str
    base: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo's platform with a second application under review, its documents attached and
    the handler's recommendation; every notebook served for the decider dora."""
    tmp = tmp_path_factory.mktemp("dashboards")
    config = config_for(tmp / "home")
    run_applications_demo(config)
    wf = Workflow(config)
    application_id = wf.create_draft("alice", make_form(title="Penetrance of BRCA1 variants"))
    attach_demo_documents(wf, "alice", application_id)
    wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.attach_feasibility("alice", application_id, "rare disease cases",
                          {"GRZK00001": "≥17", "KDKK00001": "12"}, "≥29")
    wf.request_decision("hanna", application_id, "approve", RECOMMENDATION)
    cfg = str(write_config_file(config, tmp / "genomlab.toml"))
    with serve_voila(tmp, {"GENOMLAB_CONFIG": cfg,
                           "GENOMLAB_CREDENTIALS": str(credentials_for(config, "dora"))}) as base:
        yield Served(config, application_id, base)


def _open(page: Any, served: Served, notebook: str) -> None:
    page.goto(render_url(served.base, notebook), timeout=120_000)
    page.wait_for_selector(DASHBOARDS[notebook][1], timeout=120_000)


@pytest.mark.browser
@pytest.mark.slow
def test_approvals_dashboard__decider_sees_case_file_before_the_buttons(
        served: Served, page: Any) -> None:
    _open(page, served, "approvals.ipynb")
    page.select_option(".genomlab-open select",
                       label=f"{served.application_id} · under_review · "
                             "Penetrance of BRCA1 variants")
    page.wait_for_selector(".genomlab-action-approve", timeout=60_000)
    attachments = page.inner_text(".genomlab-approvals table.genomlab-attachments")
    for kind, name in (("Ethics committee vote", "ethics-vote.txt"),
                       ("Data-protection concept", "data-protection-concept.txt"),
                       ("Signed terms of use", "terms-of-use-signed.txt")):
        assert kind in attachments
        assert name in attachments
    link = page.locator(".genomlab-attachments a[download='ethics-vote.txt']")
    assert link.get_attribute("href").startswith("data:application/octet-stream;base64,")
    recommendation = page.inner_text(".genomlab-approvals .genomlab-recommendation")
    assert recommendation.startswith("hanna recommends approve")
    assert RECOMMENDATION in recommendation
    feasibility = read_page_table(page, ".genomlab-approvals table.genomlab-feasibility")
    assert feasibility.to_dict("list") == {"node": ["GRZK00001", "KDKK00001", "total"],
                                           "persons": ["≥17", "12", "≥29"]}
    assert "Penetrance of BRCA1 variants" not in page.inner_text(".genomlab-earlier")
    assert "approved" in page.inner_text(".genomlab-earlier")  # the demo's earlier project
    assert "{" not in page.inner_text(".genomlab-detail")  # criteria in words, no dict
    # the case file and the labelled reason come before the buttons, in the page's order
    order = page.evaluate("""() => ['.genomlab-attachments', '.genomlab-recommendation',
        '.genomlab-feasibility',
        '.genomlab-reason textarea', '.genomlab-action-approve'].map(
        s => document.querySelector(s).getBoundingClientRect().top)""")
    assert order == sorted(order), order
    assert page.locator("label:text-is('Reason')").count() == 1

    # per dataset, as a DAC decides: the clinical data are refused
    page.fill(".genomlab-reason textarea", "Clinical data not needed for penetrance.")
    page.click(".genomlab-dataset-reject[title='Reject kdk-clinical']")
    page.wait_for_selector(".genomlab-message .genomlab-ok:has-text('Reject dataset "
                           "kdk-clinical')", timeout=60_000)
    assert "decided: reject by dora" in page.inner_text(".genomlab-detail")
    page.fill(".genomlab-reason textarea", "Committee not needed; recommendation followed.")
    page.click(".genomlab-action-approve")
    page.wait_for_selector(".genomlab-confirm-approve", timeout=60_000)
    assert get_application_detail(served.config, served.application_id).row["status"] == \
        "under_review"  # nothing happens before the confirmation
    page.screenshot(path=str(served.config.home.parent / "approvals-confirm.png"), full_page=True)
    page.click(".genomlab-confirm-approve")
    page.wait_for_selector(".genomlab-message .genomlab-ok:has-text('Approve:')", timeout=60_000)
    assert page.inner_text(".genomlab-message") == \
        f"Approve: {served.application_id} is now approved"
    assert get_application_detail(served.config, served.application_id).row["decided_by"] == \
        "dora"
    approval = get_signed_approval(served.config, served.application_id)
    assert approval.body["data_categories"] == ["genomic"]
    assert not any(text in page.content() for text in BROKEN)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("notebook", list(DASHBOARDS))
def test_dashboard__accessibility_check_passes(served: Served, page: Any, notebook: str) -> None:
    _open(page, served, notebook)
    if notebook == "approvals.ipynb":  # the demo's application open: detail, reason, buttons
        page.locator(".genomlab-approvals select").first.select_option(label="approved")
        page.wait_for_selector(".genomlab-open select option:nth-child(2)", state="attached",
                               timeout=60_000)
        page.select_option(".genomlab-open select", index=1)
        page.wait_for_selector(".genomlab-detail h2", timeout=60_000)
    title = DASHBOARDS[notebook][0]
    if title is not None:
        assert page.title() == title
    page.screenshot(path=str(Path(served.config.home).parent / f"{notebook}.png"),
                    full_page=True)
    violations = get_accessibility_violations(page)
    assert violations == [], f"{notebook}:\n" + "\n".join(violations)
