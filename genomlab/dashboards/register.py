"""The public register page (Voila): who uses genomDE data, for what, and what came of it.

Reads the projection with paginated SQL (no Spark), 50 entries a page, newest first, with a
search field and a status filter. It reads like a public register: German first with English,
statuses, purposes, DUO terms and ICD-10-GM codes in words
(:mod:`genomlab.platform.applications.register_labels`), one page per project behind a permalink
(``?project=GDE-…``), the whole register as CSV and JSON downloads, and results as publications
and DOIs (airlock releases by file name, never by hash). Every text comes from applicants and is
escaped; result links are made only for ``https://`` URLs and DOIs.
"""

from __future__ import annotations

import base64
import html
import os
from typing import Any
from urllib.parse import parse_qs, urlencode

from sqlalchemy import func, select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.dashboards.first_screen import show_with_first_screen
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.register import (
    RegisterPage,
    get_register_page,
    render_whole_register,
)
from genomlab.platform.applications.register_labels import (
    LEVEL_WORDS,
    PURPOSE_WORDS,
    RESULT_WORDS,
    STATUS_WORDS,
    describe_result_reference,
    get_duo_words,
    get_icd_words,
    get_words,
)
from genomlab.platform.applications.store import read_platform

PAGE_SIZE = 50
STATUSES = ("", "submitted", "returned", "under_review", "approved", "rejected", "closed",
            "revoked", "expired")
STYLE = """<style>
.genomlab-register {border-collapse: collapse; font-size: 13px}
.genomlab-register th, .genomlab-register td
  {border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top}
.genomlab-register .lay {color: #555; font-size: 12px}
</style>"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def result_link_html(kind: str, title: str, reference: str) -> str:
    """A result as escaped text, in plain words: a publication's DOI or an https URL is linked,
    outputs released through the airlock are named by file (not by hash), anything else is text.

    Examples
    --------
    >>> result_link_html("publication", "A <b>", "javascript:alert(1)")
    'Veröffentlichung / publication: A &lt;b&gt; (javascript:alert(1))'
    >>> print(result_link_html("report", "R", "doi:10.1/x"))
    Bericht / report: <a href="https://doi.org/10.1/x" rel="noopener" target="_blank">R</a>
    (DOI 10.1/x)
    """
    href, words = describe_result_reference(reference)
    kind_words = _e(get_words(RESULT_WORDS, kind))
    if href is None:
        return f"{kind_words}: {_e(title)} ({_e(words)})"
    return (f'{kind_words}: <a href="{_e(href)}" rel="noopener" target="_blank">{_e(title)}</a>'
            f"\n({_e(words)})")


def get_permalink(project_id: str) -> str:
    """The register page of one project, relative to the register's own address.

    Examples
    --------
    >>> get_permalink("GDE-2026-0001")
    '?project=GDE-2026-0001'
    """
    return "?" + urlencode({"project": project_id})


def get_project_from_query(query_string: str | None) -> str | None:
    """The ``project`` of a register URL's query string (Voila passes it as ``QUERY_STRING``).

    Examples
    --------
    >>> get_project_from_query("project=GDE-2026-0001&x=1"), get_project_from_query("")
    ('GDE-2026-0001', None)
    """
    values = parse_qs(query_string or "").get("project")
    return values[0].strip() if values and values[0].strip() else None


def _duo_html(e: dict[str, Any]) -> str:
    parts = [_e(get_duo_words(e["duo_permission"]))]
    if e["disease"]:
        parts.append(f"Krankheit / disease: {_e(get_icd_words(e['disease']))}")
    parts += [_e(get_duo_words(m)) for m in e["duo_modifiers"]]
    return "<br>".join(parts)


def _data_html(e: dict[str, Any]) -> str:
    data = f"{_e(', '.join(e['data_categories']))}; {_e(get_words(LEVEL_WORDS, e['level']))}"
    if e["clinical_fields"]:
        data += f"; Felder / fields: {_e(', '.join(e['clinical_fields']))}"
    return data


def _decision_text(e: dict[str, Any]) -> str:
    if not e["decision"]:
        return "ausstehend / pending"
    decision = f"{get_words(STATUS_WORDS, e['decision'])} {e['decision_on']}"
    if e["valid_until"]:
        decision += f"; Zugang / access {e['valid_from']} – {e['valid_until']}"
    return decision


def _results_html(e: dict[str, Any]) -> str:
    return "<br>".join(result_link_html(r["kind"], r["title"], r["reference"])
                       for r in e["results"]) or "noch keine / none reported yet"


def _purposes(e: dict[str, Any]) -> str:
    return ", ".join(get_words(PURPOSE_WORDS, p) for p in e["purposes"])


def register_table_html(page: RegisterPage) -> str:
    """Register entries as an escaped HTML table, German first with English; each project links
    to its own page (:func:`get_permalink`)."""
    head = "".join(f'<th scope="col">{h}</th>' for h in (
        "Projekt / Project", "Titel und Kurzbeschreibung / Title and lay summary",
        "Antragsteller:in, Einrichtung / Applicant, institution",
        "Berechtigte Personen / Authorised users", "Zwecke / Purposes",
        "Nutzungsbedingungen (DUO) / Data use terms (DUO)",
        "Beantragte Daten / Data requested", "Status", "Entscheidung / Decision",
        "Ergebnisse / Results"))
    rows = []
    for e in page.entries:
        rows.append(
            f'<tr data-project="{_e(e["project_id"])}">'
            f'<td><a class="permalink" href="{_e(get_permalink(e["project_id"]))}">'
            f"{_e(e['project_id'])}</a><br><small>eingereicht / submitted "
            f"{_e(e['submitted_on'])}</small></td>"
            f"<td class='title'><b>{_e(e['title'])}</b><div class='lay'>{_e(e['lay_summary'])}"
            f"</div></td>"
            f"<td>{_e(e['applicant'])}<br>{_e(e['institution'])}</td>"
            f"<td>{'<br>'.join(_e(u) for u in e['authorised_users'])}</td>"
            f"<td>{_e(_purposes(e))}</td><td>{_duo_html(e)}</td><td>{_data_html(e)}</td>"
            f"<td class='status'>{_e(get_words(STATUS_WORDS, e['status']))}</td>"
            f"<td>{_e(_decision_text(e))}</td><td>{_results_html(e)}</td></tr>")
    return (f'<table class="genomlab-register"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def get_register_entry(config: GenomlabConfig, project_id: str) -> dict[str, Any] | None:
    """The register entry of one project; ``None`` when the register has none."""
    page = get_register_page(config, search=project_id, limit=None)
    return next((e for e in page.entries if e["project_id"] == project_id), None)


def project_page_html(entry: dict[str, Any]) -> str:
    """One project's register page: every field in words, German first, with its permalink."""
    fields = (
        ("Projekt / Project", _e(entry["project_id"])),
        ("Antrag / Application", _e(entry["application_id"])),
        ("Kurzbeschreibung / Lay summary", _e(entry["lay_summary"])),
        ("Antragsteller:in / Applicant", _e(entry["applicant"])),
        ("Einrichtung / Institution", _e(entry["institution"])),
        ("Berechtigte Personen / Authorised users",
         "<br>".join(_e(u) for u in entry["authorised_users"])),
        ("Zwecke / Purposes", _e(_purposes(entry))),
        ("Nutzungsbedingungen (DUO) / Data use terms (DUO)", _duo_html(entry)),
        ("Beantragte Daten / Data requested", _data_html(entry)),
        ("Eingereicht / Submitted", _e(entry["submitted_on"])),
        ("Status", f"{_e(get_words(STATUS_WORDS, entry['status']))} "
                   f"(seit / since {_e(entry['status_since'])})"),
        ("Entscheidung / Decision", _e(_decision_text(entry))),
        ("Ergebnisse / Results", _results_html(entry)),
    )
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in fields)
    link = get_permalink(entry["project_id"])
    return (f'<article class="genomlab-register-project" data-project="{_e(entry["project_id"])}">'
            f"<h2>{_e(entry['title'])}</h2>"
            f'<p>Dauerhafter Link / Permalink: <a class="permalink" href="{_e(link)}">'
            f"{_e(link)}</a> · <a class='back' href='?'>Zum Register / Back to the register</a>"
            f"</p><dl>{rows}</dl></article>")


def get_download_links_html(config: GenomlabConfig) -> str:
    """Links that download the whole register as CSV and JSON (data URLs: nothing to install,
    no command line)."""
    links = []
    for fmt, mime in (("csv", "text/csv"), ("json", "application/json")):
        body, _ = render_whole_register(config, fmt)  # type: ignore[arg-type]
        data = base64.b64encode(body.encode("utf-8")).decode("ascii")
        links.append(f'<a class="genomlab-download-{fmt}" download="register.{fmt}" '
                     f'href="data:{mime};charset=utf-8;base64,{data}">register.{fmt}</a>')
    return ("<p class='genomlab-download'>Herunterladen / Download: " + " · ".join(links)
            + " (Schema: docs/register-schema.md)</p>")


def get_register_summary(config: GenomlabConfig) -> dict[str, int]:
    """Number of register entries per status (applications, not participants)."""
    a = t.applications
    with read_platform(config) as conn:
        rows = conn.execute(select(a.c.status, func.count()).where(a.c.submitted_at.is_not(None))
                            .group_by(a.c.status)).all()
    return {str(status): int(n) for status, n in rows}


class StoreRegister:
    """The register read in this process, from the platform's store."""

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config

    def page(self, search: str | None, status: str | None, offset: int,
             limit: int) -> RegisterPage:
        return get_register_page(self.config, search=search, status=status, offset=offset,
                                 limit=limit)

    def summary(self) -> dict[str, int]:
        return get_register_summary(self.config)

    def entry(self, project_id: str) -> dict[str, Any] | None:
        return get_register_entry(self.config, project_id)

    def download_links_html(self) -> str:
        return get_download_links_html(self.config)


class ServiceRegister:
    """The register read from the platform service's public pages (no sign-in): what a
    person's server behind the hub reads, where the account cannot open the platform's store.
    """

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config

    def _get(self, path: str, query: dict[str, Any]) -> Any:
        """The answer to a GET of the platform service's public ``path`` (no token)."""
        from genomlab.clients.oauth import get_service_endpoint

        with get_service_endpoint(self.config, "platform").http() as http:
            return http.get(path, params={k: v for k, v in query.items()
                                          if v not in (None, "")})

    def _json(self, query: dict[str, Any]) -> Any:
        from genomlab.clients.oauth import raise_for_answer

        return raise_for_answer("platform", self._get("/register/page.json", query))

    def page(self, search: str | None, status: str | None, offset: int,
             limit: int) -> RegisterPage:
        body = self._json({"q": search, "status": status, "offset": offset, "limit": limit})
        return RegisterPage(list(body["entries"]), int(body["total"]))

    def summary(self) -> dict[str, int]:
        body = self._json({"limit": 1})
        return {str(k): int(v) for k, v in body["summary"].items()}

    def entry(self, project_id: str) -> dict[str, Any] | None:
        entry: dict[str, Any] | None = self._json({"project": project_id})["entry"]
        return entry

    def download_links_html(self) -> str:
        links = []
        for fmt, mime in (("csv", "text/csv"), ("json", "application/json")):
            answer = self._get(f"/register.{fmt}", {})
            answer.raise_for_status()
            data = base64.b64encode(answer.content).decode("ascii")
            links.append(f'<a class="genomlab-download-{fmt}" download="register.{fmt}" '
                         f'href="data:{mime};charset=utf-8;base64,{data}">register.{fmt}</a>')
        return ("<p class='genomlab-download'>Herunterladen / Download: " + " · ".join(links)
                + " (Schema: docs/register-schema.md)</p>")


def get_register_reads(config: GenomlabConfig) -> StoreRegister | ServiceRegister:
    """:class:`ServiceRegister` if this account cannot open the platform's store (a person's
    server behind the hub), else :class:`StoreRegister`."""
    from genomlab.platform.person_session import platform_store_readable

    return StoreRegister(config) if platform_store_readable(config) else ServiceRegister(config)


def register_view(config: GenomlabConfig, page_size: int = PAGE_SIZE,
                  project: str | None = None) -> Any:
    """The public register as one ipywidgets box.

    Examples
    --------
    The demo application once approved, in the summary line and as one row of the table:

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> project = run_applications_demo(config).project_id
    >>> header, _, table = register_view(config).children
    >>> "1 Anträge / applications: 1 genehmigt / approved" in header.value
    True
    >>> table.value.count(project) > 0
    True

    With ``project`` the box holds that project's own page (its permalink's target):

    >>> [page] = register_view(config, project=project).children
    >>> 'class="genomlab-register-project"' in page.value
    True
    """
    import ipywidgets as widgets

    reads = get_register_reads(config)
    if project is not None:
        entry = reads.entry(project)
        body = (project_page_html(entry) if entry is not None else
                f"<p class='genomlab-not-found'>Kein Eintrag für / no register entry for "
                f"{_e(project)}. <a class='back' href='?'>Zum Register / Back to the register"
                "</a></p>")
        single = widgets.VBox([widgets.HTML(STYLE + body)])
        single.add_class("genomlab-register-view")
        return single

    summary = reads.summary()
    counts = ", ".join(f"{n} {get_words(STATUS_WORDS, s)}" for s, n in sorted(summary.items()))
    header = widgets.HTML(
        f"{STYLE}<p class='genomlab-summary'>{sum(summary.values())} Anträge / applications: "
        f"{_e(counts)}.</p>")
    search = widgets.Text(placeholder="Titel, Projekt, Einrichtung / title, project, institution",
                          description="Suche / Search")
    status = widgets.Dropdown(
        options=[(get_words(STATUS_WORDS, s) if s else "alle / all", s) for s in STATUSES],
        value="", description="Status")
    prev = widgets.Button(description="◀ zurück / previous")
    nxt = widgets.Button(description="weiter / next ▶")
    reload = widgets.Button(description="↻ aktualisieren / refresh")
    download = widgets.Button(description="⤓ Register herunterladen / download")
    download.add_class("genomlab-download-button")
    download.on_click(lambda _: setattr(header, "value", header.value.split(
        "<p class='genomlab-download'>")[0] + reads.download_links_html()))
    label, table = widgets.HTML(), widgets.HTML()
    state = {"offset": 0}

    def refresh(*_: Any) -> None:
        page = reads.page(search.value or None, status.value or None, state["offset"],
                          page_size)
        table.value = register_table_html(page)
        last = min(state["offset"] + page_size, page.total)
        first = state["offset"] + 1 if page.total else 0
        label.value = (f"<span class='genomlab-page'>{first}–{last} von / of {page.total}"
                       f"</span> <small>Stand / as of {clock.now():%H:%M:%S} UTC</small>")
        prev.disabled, nxt.disabled = state["offset"] == 0, last >= page.total

    def filtered(_: Any) -> None:
        state["offset"] = 0
        refresh()

    def turn(step: int) -> None:
        state["offset"] = max(0, state["offset"] + step * page_size)
        refresh()

    search.observe(filtered, names="value")
    status.observe(filtered, names="value")
    prev.on_click(lambda _: turn(-1))
    nxt.on_click(lambda _: turn(+1))
    reload.on_click(refresh)
    refresh()
    box = widgets.VBox([header, widgets.HBox([search, status, prev, nxt, reload, download,
                                              label]), table])
    box.add_class("genomlab-register-view")
    return box


def show_register(config: GenomlabConfig, page_size: int = PAGE_SIZE) -> None:
    """Display the register with a server-rendered first screen (the newest page as static
    HTML, replaced by the live widgets once they load); ``?project=ID`` in the page's address
    (Voila passes it as ``QUERY_STRING``) shows that project's own page.

    Examples
    --------
    Outside a notebook ``display`` prints what it shows: the snapshot, then the live box.

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> show_register(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    <IPython.core.display.HTML object>
    VBox(children=(HTML(value='<style>.genomlab-first-screen {display: none}</style>'), VBox(...
    """
    project = get_project_from_query(os.environ.get("QUERY_STRING"))
    show_with_first_screen(register_view(config, page_size=page_size, project=project))
