"""The public register reads like a public register: German first with English, codes in words,
one page per project behind a permalink, downloads, results as publications and DOIs.

The HTML the page shows is parsed and checked by its DOM (BeautifulSoup); one browser test serves
the notebook with Voila and opens a project's permalink.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import pytest
from bs4 import BeautifulSoup

from genomlab.dashboards import register as register_page
from genomlab.dashboards.register import register_view
from genomlab.platform.applications.register import export_register
from tests.platform.conftest import World

AIRLOCK_REFERENCE = "airlock:AR-000001 variants_per_contig.csv#sha256=" + "3f" * 32


def _approved_with_results(world: World) -> tuple[str, str]:
    """(application id, project id) of an approved DS/C50 application with two results."""
    from genomlab.platform.applications.queries import get_application_detail

    app = world.approved()
    world.wf.add_result("tom", app, kind="publication", title="Penetrance of BRCA1",
                        reference="doi:10.1234/genomde.2027.1")
    world.wf.add_result("tom", app, kind="report", title="Outputs released through the airlock",
                        reference=AIRLOCK_REFERENCE)
    return app, get_application_detail(world.config, app).row["project_id"]


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def test_register_table_html__german_first_codes_in_words_permalinks(world: World) -> None:
    _, project = _approved_with_results(world)
    header, _, table = register_view(world.config).children
    summary = _soup(header.value).select_one(".genomlab-summary").get_text()
    assert summary == "1 Anträge / applications: 1 genehmigt / approved."
    soup = _soup(table.value)
    headers = [th.get_text() for th in soup.select("thead th")]
    assert headers[0] == "Projekt / Project"
    assert all(" / " in h for h in headers if h != "Status")
    row = soup.select_one(f'tr[data-project="{project}"]')
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert row.select_one("a.permalink")["href"] == f"?project={project}"
    assert cells[4] == "wissenschaftliche Forschung / scientific research"
    assert cells[5].startswith("Forschung zu einer bestimmten Krankheit / disease specific "
                               "research (DS, DUO:0000007)")
    assert ("Krankheit / disease: Bösartige Neubildung der Brustdrüse [Mamma] / Malignant "
            "neoplasm of breast (ICD-10-GM C50)") in cells[5]
    assert "Veröffentlichung erforderlich / publication required (PUB, DUO:0000019)" in cells[5]
    assert cells[7] == "genehmigt / approved"
    links = row.select("td:last-child a")
    assert [a["href"] for a in links] == ["https://doi.org/10.1234/genomde.2027.1"]
    assert "DOI 10.1234/genomde.2027.1" in cells[9]
    assert "outputs released through the airlock: variants_per_contig.csv (AR-000001)" in cells[9]
    assert "sha256" not in cells[9]
    assert "3f3f3f" not in table.value


def test_register_view__project_page_behind_its_permalink(world: World) -> None:
    app, project = _approved_with_results(world)
    [page] = register_view(world.config, project=project).children
    article = _soup(page.value).select_one(f'article.genomlab-register-project'
                                           f'[data-project="{project}"]')
    assert article.h2.get_text() == "Penetrance of BRCA1 variants in hereditary breast cancer"
    fields = dict(zip([dt.get_text() for dt in article.find_all("dt")],
                      [dd.get_text(" ", strip=True) for dd in article.find_all("dd")],
                      strict=True))
    assert fields["Antrag / Application"] == app
    assert fields["Status"].startswith("genehmigt / approved (seit / since ")
    assert fields["Zwecke / Purposes"] == "wissenschaftliche Forschung / scientific research"
    assert article.select_one("a.permalink")["href"] == f"?project={project}"
    [missing] = register_view(world.config, project="GDE-1999-9999").children
    assert "Kein Eintrag für / no register entry for GDE-1999-9999" in missing.value


def test_show_register__query_string_selects_the_project(world: World,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, project = _approved_with_results(world)
    shown: list[Any] = []
    monkeypatch.setattr(register_page, "show_with_first_screen", shown.append)
    monkeypatch.setenv("QUERY_STRING", f"project={project}")
    register_page.show_register(world.config)
    assert 'class="genomlab-register-project"' in shown[0].children[0].value
    monkeypatch.setenv("QUERY_STRING", "")
    register_page.show_register(world.config)
    assert len(shown[1].children) == 3  # the list: summary, controls, table


def test_register_view__download_button_offers_the_export(world: World) -> None:
    _approved_with_results(world)
    view = register_view(world.config)
    header, controls, _ = view.children
    assert "genomlab platform register" not in header.value  # no CLI hint for the public
    [button] = [w for w in controls.children if "genomlab-download-button" in w._dom_classes]
    button.click()
    links = {a["download"]: a["href"] for a in _soup(header.value).select(".genomlab-download a")}
    assert set(links) == {"register.csv", "register.json"}
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert links["register.csv"].startswith(prefix)
    csv_text = base64.b64decode(unquote(links["register.csv"][len(prefix):])).decode()
    export_register(world.config, world.config.home / "register.csv")
    assert csv_text == (world.config.home / "register.csv").read_text(encoding="utf-8")


@pytest.mark.browser
@pytest.mark.slow
def test_register_dashboard__permalink_opens_the_project_page(world: World, voila,
                                                              page) -> None:
    _, project = _approved_with_results(world)
    url = voila("register.ipynb", env={"GENOMLAB_HOME": str(world.config.home)})
    page.goto(url, timeout=120_000)
    page.wait_for_selector(f'.genomlab-register-view tr[data-project="{project}"]',
                           timeout=120_000)
    assert page.locator("h1").first.inner_text().startswith("Öffentliches Antragsregister")
    page.click(f'.genomlab-register-view tr[data-project="{project}"] a.permalink')
    page.wait_for_selector(".genomlab-register-view article.genomlab-register-project",
                           timeout=120_000)
    assert page.url.endswith(f"?project={project}")
    article = page.locator(".genomlab-register-view article.genomlab-register-project")
    assert "Penetrance of BRCA1" in article.locator("h2").inner_text()
    assert "Bösartige Neubildung der Brustdrüse" in article.inner_text()
