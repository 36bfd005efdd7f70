"""The public register on the web, from a real platform service in headless Chromium.

One platform service for the module, over the demo's approved project, six more submitted
applications, one with markup in its title, and a draft that must never appear. The browser
searches, pages and opens a project's own page without signing in; axe finds no violation; the
JSON and CSV answers are the register's own export text; and no request of the browser leaves
the service's own address (everything else is blocked by the test and recorded).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.applications.register import (
    REGISTER_FIELDS,
    get_register_page,
    render_whole_register,
)
from genomlab.services.process import running_service
from tests.a11y import get_accessibility_violations
from tests.conftest import REPO, config_for
from tests.platform.conftest import make_form
from tests.services.conftest import RunningService

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TITLES = [f"Register study {n}: variants of gene GL{n}" for n in range(1, 6)]
MARKUP_TITLE = "Modifier genes <script>alert(1)</script> in cardiomyopathy"
DRAFT_TITLE = "Unsubmitted draft on mitochondrial disease"


@dataclass
class Register:
    service: RunningService
    demo_project: str
    projects: dict[str, str]  # title -> project id


@dataclass
class Guarded:
    """A browser page whose requests may reach only the service's host and port."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Register]:
    base = tmp_path_factory.mktemp("register-web")
    config = config_for(base / "home")
    demo = run_applications_demo(config)
    wf = Workflow(config)
    with wf.batch():
        for title in [*TITLES, MARKUP_TITLE]:
            wf.submit("alice", wf.create_draft("alice", make_form(title=title)))
        wf.create_draft("alice", make_form(title=DRAFT_TITLE))
    projects = {e["title"]: e["project_id"] for e in get_register_page(config, limit=None).entries}
    with running_service(
        config, "platform", log=base / "service.log", env={"PYTHONPATH": str(REPO)}
    ) as service:
        yield Register(RunningService(service.url, service.ca, config), demo.project_id, projects)


@pytest.fixture
def guarded(browser: Any, register: Register) -> Iterator[Guarded]:
    """A page (self-signed service CA: TLS errors ignored) whose every request to anything but
    the service's own origin is aborted and recorded."""
    own = urlsplit(register.service.url)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    guard = Guarded(context.new_page())

    def route(request_route: Any) -> None:
        url = request_route.request.url
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname, parts.port) == ("https", "127.0.0.1", own.port):
            guard.allowed.append(url)
            request_route.continue_()
        else:
            guard.blocked.append(url)
            request_route.abort()

    context.route("**/*", route)
    yield guard
    context.close()


def _rows(page: Any) -> list[str]:
    return page.locator("table.genomlab-register tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.project)"
    )


def test_register_page__searches_pages_and_passes_axe_without_sign_in(
    register: Register, guarded: Guarded
) -> None:
    page, url = guarded.page, register.service.url
    answer = page.goto(f"{url}/register?size=3")
    assert answer.status == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert page.title() == "Antragsregister / Register · genomDE"
    newest_first = sorted(register.projects.values(), reverse=True)
    assert page.inner_text(".genomlab-page") == "1–3 von / of 7"
    assert _rows(page) == newest_first[:3]
    assert page.locator("a.prev").count() == 0
    violations = get_accessibility_violations(page)
    assert violations == [], "\n".join(violations)

    page.click("a.next")
    page.wait_for_selector(".genomlab-page:text-is('4–6 von / of 7')")
    assert _rows(page) == newest_first[3:6]
    page.click("a.next")
    page.wait_for_selector(".genomlab-page:text-is('7–7 von / of 7')")
    assert _rows(page) == [register.demo_project]  # the oldest submission
    assert page.locator("a.next").count() == 0
    assert page.inner_text("nav.pages [aria-current='page']") == "Seite / page 3 von / of 3"
    page.click("a.prev")
    page.wait_for_selector(".genomlab-page:text-is('4–6 von / of 7')")

    # search by label, as a person would; the page size is kept
    page.get_by_label("Suche / Search").fill("GL4")
    page.get_by_role("button", name="Suchen / Search").click()
    page.wait_for_selector(".genomlab-page:text-is('1–1 von / of 1')")
    assert _rows(page) == [register.projects[TITLES[3]]]
    assert "size=3" in page.url
    assert "q=GL4" in page.url

    # the applicant's markup is text, never a script
    page.goto(f"{url}/register?q=cardiomyopathy")
    assert page.locator("table.genomlab-register .title b").inner_text() == MARKUP_TITLE
    assert page.locator("table.genomlab-register script").count() == 0
    assert DRAFT_TITLE not in page.content()

    # status filter, then a project's own page through its permalink
    page.get_by_label("Status").select_option(label="genehmigt / approved")
    page.get_by_label("Suche / Search").fill("")
    page.get_by_role("button", name="Suchen / Search").click()
    page.wait_for_selector(".genomlab-page:text-is('1–1 von / of 1')")
    page.click(f"a.permalink:text-is('{register.demo_project}')")
    page.wait_for_selector("article.genomlab-register-project")
    assert page.url.endswith(f"/register?project={register.demo_project}")
    assert "genehmigt / approved" in page.inner_text("article dl")
    violations = get_accessibility_violations(page)
    assert violations == [], "\n".join(violations)
    page.click("a.back")
    page.wait_for_selector(".genomlab-page:text-is('1–7 von / of 7')")

    assert guarded.blocked == []
    assert guarded.allowed  # the guard saw the page's requests


def test_register_page__unknown_project_and_status_are_refused(register: Register) -> None:
    with register.service.client() as http:
        missing = http.get("/register", params={"project": "GDE-1999-9999"})
        assert missing.status_code == 404
        assert "GDE-1999-9999" in missing.text
        assert http.get("/register", params={"status": "draft"}).status_code == 400
        assert http.get("/register.csv", params={"status": "draft"}).status_code == 400
        assert http.get("/register", params={"page": 0}).status_code == 422


def test_register_json_and_csv__are_the_register_export(register: Register) -> None:
    config: GenomlabConfig = register.service.config
    with register.service.client() as http:
        as_json = http.get("/register.json")
        as_csv = http.get("/register.csv")
        found_json = http.get("/register.json", params={"q": "GL2"})
    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_json.text == render_whole_register(config, "json")[0]
    assert as_csv.text == render_whole_register(config, "csv")[0]
    document = json.loads(as_json.text)
    entries = get_register_page(config, limit=None).entries
    assert document["entries"] == entries
    assert [f["name"] for f in document["fields"]] == [name for name, _ in REGISTER_FIELDS]
    assert DRAFT_TITLE not in as_json.text
    assert DRAFT_TITLE not in as_csv.text
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["project_id"] for r in rows] == [e["project_id"] for e in entries]
    assert [r["title"] for r in rows] == [e["title"] for e in entries]
    assert [e["project_id"] for e in json.loads(found_json.text)["entries"]] == [
        register.projects[TITLES[1]]
    ]
