"""The approvals and register dashboards in Voila, driven in headless Chromium."""

from __future__ import annotations

import urllib.request

import pytest
from bs4 import BeautifulSoup

from genomlab.dashboards.approvals import approvals_view, queue_table_html
from genomlab.dashboards.first_screen import FIRST_SCREEN_CLASS, get_static_html
from genomlab.dashboards.register import register_view
from genomlab.platform.applications import is_entitled
from genomlab.platform.applications.queries import get_application_detail, get_queue_page
from tests.platform.conftest import World, credentials_of, make_form

LIVE_APPROVALS, LIVE_REGISTER = ".genomlab-approvals", ".genomlab-register-view"
BROKEN = ("Error displaying widget", "Failed to load model")
XSS_TITLE = ('<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> '
             "BRCA1 penetrance")


def test_approvals_view__builds_for_a_decider_without_a_browser(world: World) -> None:
    app = world.under_review(title=XSS_TITLE)
    box = approvals_view(world.config, user="dora")
    html_text = box.children[3].value
    assert app in html_text
    assert "<script>" not in html_text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html_text


def test_get_static_html__first_screen_is_the_escaped_queue_page(world: World) -> None:
    app = world.under_review(title=XSS_TITLE)
    snapshot = get_static_html(approvals_view(world.config, user="dora"))
    assert "Signed in as <b>dora</b>" in snapshot
    assert f'data-application="{app}"' in snapshot
    pager = BeautifulSoup(snapshot, "html.parser").select_one("span.genomlab-page")
    assert pager is not None
    assert pager.get_text() == "1–1 of 1"
    assert "<script>" not in snapshot


def test_queue_table_html__escapes_and_marks_overdue(world: World) -> None:
    world.submitted(title="Waiting <b>long</b>")
    world.clock.advance(days=20)
    page = get_queue_page(world.config, now=world.clock.now)
    rendered = queue_table_html(page)
    assert page.rows[0]["age_days"] == 20
    assert '<tr class="old"' in rendered
    assert "Waiting &lt;b&gt;long&lt;/b&gt;" in rendered


def test_register_view__lists_only_submitted(world: World) -> None:
    world.wf.create_draft("alice", make_form(title="Secret draft"))
    world.approved(title="Public approved project")
    table = register_view(world.config).children[2].value
    assert "Public approved project" in table
    assert "Secret draft" not in table


def _open_dashboard(page, url: str, selector: str) -> None:
    page.goto(url, timeout=120_000)
    page.wait_for_selector(selector, timeout=120_000)


@pytest.mark.browser
@pytest.mark.slow
def test_dashboards__decider_approves_and_register_lists_project(world: World, voila,
                                                                 page) -> None:
    app = world.under_review(title=XSS_TITLE)
    world.wf.request_committee_review("hanna", app)
    world.wf.record_vote("kurt", app, "approve", "Necessary and proportionate.")
    project = get_application_detail(world.config, app).row["project_id"]
    home = {"GENOMLAB_HOME": str(world.config.home)}
    dora = credentials_of(world.config, "dora")

    url = voila("approvals.ipynb", env={**home, "GENOMLAB_CREDENTIALS": str(dora)})
    served = urllib.request.urlopen(url, timeout=120).read().decode()
    first_screen = served[served.index(f'<div class="{FIRST_SCREEN_CLASS}">'):]
    assert f'data-application="{app}"' in first_screen  # in the page, before any script runs
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in first_screen
    assert "<script>window.__xss=1</script>" not in served

    _open_dashboard(page, url, f"{LIVE_APPROVALS} table.genomlab-queue")
    assert page.locator(f".{FIRST_SCREEN_CLASS}").is_hidden()  # replaced by the live widgets
    assert "Signed in as dora (decider)" in page.inner_text(f"{LIVE_APPROVALS} .genomlab-who")
    queue = page.inner_text(f"{LIVE_APPROVALS} table.genomlab-queue")
    assert app in queue
    assert "<script>window.__xss=1</script>" in queue  # shown as text
    page.select_option(".genomlab-open select", index=1)
    page.wait_for_selector(".genomlab-action-approve", timeout=60_000)
    detail = page.inner_text(f"{LIVE_APPROVALS} .genomlab-detail")
    assert "research-consent" in detail
    assert "Necessary and proportionate." in detail
    page.fill(".genomlab-reason textarea", "Committee in favour; data necessary.")
    page.click(".genomlab-action-approve")
    page.click(".genomlab-confirm-approve", timeout=60_000)  # approving takes a confirmation
    page.wait_for_selector(".genomlab-message .genomlab-ok", timeout=60_000)
    assert page.inner_text(".genomlab-message") == f"Approve: {app} is now approved"
    assert page.evaluate("window.__xss") is None
    assert not any(text in page.content() for text in BROKEN)

    row = get_application_detail(world.config, app).row
    assert (row["status"], row["decided_by"]) == ("approved", "dora")
    last = get_application_detail(world.config, app).history[-1]
    assert (last["type"], last["detail"]["note"]) == ("approved",
                                                      "Committee in favour; data necessary.")
    assert is_entitled(world.config, "tom", project)

    _open_dashboard(page, voila("register.ipynb", env=home),
                    f"{LIVE_REGISTER} table.genomlab-register")
    assert page.locator(f".{FIRST_SCREEN_CLASS}").is_hidden()
    entry = page.locator(f'{LIVE_REGISTER} tr[data-project="{project}"]')
    assert entry.count() == 1
    text = entry.inner_text()
    assert "approved" in text
    assert "<script>window.__xss=1</script>" in text
    assert page.evaluate("window.__xss") is None
    summary = page.inner_text(f"{LIVE_REGISTER} .genomlab-summary")
    assert summary == "1 Anträge / applications: 1 genehmigt / approved."
    assert not any(text in page.content() for text in BROKEN)


@pytest.mark.browser
@pytest.mark.slow
def test_approvals_dashboard__conflicted_reviewer_gets_no_actions(world: World, voila,
                                                                  page) -> None:
    world.under_review()
    url = voila("approvals.ipynb", env={"GENOMLAB_HOME": str(world.config.home),
                                        "GENOMLAB_CREDENTIALS":
                                        str(credentials_of(world.config, "ute"))})
    _open_dashboard(page, url, f"{LIVE_APPROVALS} table.genomlab-queue")
    page.select_option(".genomlab-open select", index=1)
    page.wait_for_selector("text=No action available to you", timeout=60_000)
    assert page.locator(".genomlab-action-approve").count() == 0


def test_approvals_view__signed_in_as_the_credentials_person(world: World,
                                                             monkeypatch) -> None:
    """Issue 15: the dashboard's person is the verified subject of the credentials file (the
    notebook's parameter or ``$GENOMLAB_CREDENTIALS``); names in the environment change
    nothing."""
    world.under_review()
    monkeypatch.setenv("JUPYTERHUB_USER", "dora")
    monkeypatch.setenv("GENOMLAB_LOCAL_USER", "dora")
    monkeypatch.setenv("GENOMLAB_CREDENTIALS", str(credentials_of(world.config, "ute")))
    assert "Signed in as <b>ute</b>" in get_static_html(approvals_view(world.config))
    dora = credentials_of(world.config, "dora")
    assert "Signed in as <b>dora</b>" in get_static_html(
        approvals_view(world.config, credentials=dora))
