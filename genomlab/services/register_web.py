"""The public register on the web: what the platform service serves to anyone, without sign-in.

Like UK Biobank's "Approved research" pages and the All of Us research-projects directory, the
register (§ 64e (9) sentence 4 no. 2 SGB V) is public. The platform service serves it at

- ``GET /register``: an accessible HTML page (German first with English, one ``<h1>``, a
  labelled search field and status filter in a plain GET form, a result count announced to
  screen readers, a paged table with previous/next links, one page per project at
  ``?project=GDE-…``). It works without JavaScript; nothing is loaded from anywhere else: the
  CSS is inline and the page says so to the browser (``Content-Security-Policy: default-src
  'none'; style-src 'unsafe-inline'``), so a CDN link added by mistake would not load.
- ``GET /register/page.json`` (``q``, ``status``, ``offset``, ``limit`` up to 200; or
  ``project``): one page of entries with the total and the count per status, or one project's
  entry (``null`` if none): what the Voila register dashboard in a person's server reads when
  its account cannot open the platform's store.
- ``GET /register.json`` and ``GET /register.csv``: the whole register in the export's own
  formats (:func:`genomlab.platform.applications.register.render_whole_register`, the text
  ``genomlab platform applications export-register`` writes; schema in
  ``docs/register-schema.md``); with ``q`` or ``status`` only the matching entries.

Every entry shown is the projection's pre-rendered public entry (drafts are never listed); the
HTML reuses the Voila register dashboard's rendering (:mod:`genomlab.dashboards.register`), so
both show the same fields in the same words. Applicants' texts are escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from genomlab.config import GenomlabConfig
from genomlab.dashboards.register import (
    STATUSES,
    get_register_entry,
    get_register_summary,
    project_page_html,
    register_table_html,
)
from genomlab.platform.applications.register import (
    get_register_page,
    render_register,
    render_whole_register,
)
from genomlab.platform.applications.register_labels import STATUS_WORDS, get_words

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
REGISTER_PATH = "/register"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""Nothing but the page itself and its inline CSS: no script, font, image or style from
elsewhere (a CDN) would load."""
PUBLIC_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
STYLE = """
body {font-family: system-ui, sans-serif; margin: 0 auto; max-width: 88rem; padding: 0 1rem;
  color: #1a1a1a; background: #fff; line-height: 1.4}
a {color: #0b4f9c} a:focus, input:focus, select:focus, button:focus
  {outline: 3px solid #b35900; outline-offset: 2px}
.skip {position: absolute; left: -999px} .skip:focus {left: 1rem; top: 1rem; background: #fff}
form.search {display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin: 1rem 0}
form.search label {display: block; font-weight: 600}
form.search input, form.search select, form.search button {font-size: 1rem; padding: .3rem}
nav.pages ul {list-style: none; padding: 0; display: flex; gap: 1rem}
.genomlab-register {border-collapse: collapse; font-size: .85rem; width: 100%}
.genomlab-register th, .genomlab-register td
  {border-bottom: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top}
.genomlab-register .lay {color: #444; font-size: .8rem}
dl dt {font-weight: 600; margin-top: .5rem}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page_html(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="de"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        '<a class="skip" href="#main">Zum Inhalt / Skip to content</a>'
        f'<main id="main">{body}</main></body></html>\n'
    )


def _query(q: str, status: str, page: int, size: int) -> str:
    params: dict[str, str | int] = {}
    if q:
        params["q"] = q
    if status:
        params["status"] = status
    if page > 1:
        params["page"] = page
    if size != PAGE_SIZE:
        params["size"] = size
    return "?" + urlencode(params)


def _search_form(q: str, status: str, size: int) -> str:
    options = "".join(
        f'<option value="{_e(s)}"{" selected" if s == status else ""}>'
        f"{_e(get_words(STATUS_WORDS, s) if s else 'alle / all')}</option>"
        for s in STATUSES
    )
    size_field = f'<input type="hidden" name="size" value="{size}">' if size != PAGE_SIZE else ""
    return (
        f'<form class="search" method="get" action="{REGISTER_PATH}" role="search">'
        '<div><label for="q">Suche / Search</label>'
        f'<input id="q" name="q" type="search" value="{_e(q)}" '
        'placeholder="Titel, Projekt, Einrichtung / title, project, institution"></div>'
        f'<div><label for="status">Status</label><select id="status" name="status">{options}'
        f"</select></div>{size_field}"
        '<div><button type="submit">Suchen / Search</button></div></form>'
    )


def _pager(q: str, status: str, page: int, size: int, total: int) -> str:
    last_page = max(1, -(-total // size))
    items = []
    if page > 1:
        href = _e(_query(q, status, page - 1, size))
        items.append(f'<li><a rel="prev" class="prev" href="{href}">◀ zurück / previous</a></li>')
    items.append(f'<li aria-current="page">Seite / page {page} von / of {last_page}</li>')
    if page < last_page:
        href = _e(_query(q, status, page + 1, size))
        items.append(f'<li><a rel="next" class="next" href="{href}">weiter / next ▶</a></li>')
    return f'<nav class="pages" aria-label="Seiten / pages"><ul>{"".join(items)}</ul></nav>'


def render_register_html(
    config: GenomlabConfig, *, q: str = "", status: str = "", page: int = 1, size: int = PAGE_SIZE
) -> str:
    """The register page: heading, summary, search form, result count, table, pager, downloads.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> project = run_applications_demo(config).project_id
    >>> text = render_register_html(config)
    >>> f'data-project="{project}"' in text, "1–1 von / of 1" in text
    (True, True)
    >>> "1–1" in render_register_html(config, q="BRCA")
    False
    """
    q = q.strip()
    found = get_register_page(
        config, search=q or None, status=status or None, offset=(page - 1) * size, limit=size
    )
    summary = get_register_summary(config)
    counts = ", ".join(f"{n} {get_words(STATUS_WORDS, s)}" for s, n in sorted(summary.items()))
    first = (page - 1) * size + 1 if found.entries else 0
    last = (page - 1) * size + len(found.entries)
    body = (
        "<h1>Öffentliches Antragsregister genomDE / Public register of data-use applications</h1>"
        "<p>Wer nutzt Daten des Modellvorhabens Genomsequenzierung, wofür, und was ist daraus "
        "geworden (§ 64e Abs. 9 SGB V). / Who uses data of the genome sequencing model project, "
        "for what, and what came of it.</p>"
        f"<p class='genomlab-summary'>{sum(summary.values())} Anträge / applications: "
        f"{_e(counts)}.</p>"
        f"{_search_form(q, status, size)}"
        '<h2 id="results">Einträge / Entries</h2>'
        f'<p class="genomlab-page" role="status">{first}–{last} von / of {found.total}</p>'
        f"{register_table_html(found) if found.entries else ''}"
        f"{_pager(q, status, page, size, found.total)}"
        "<p class='genomlab-download'>Herunterladen / Download: "
        f'<a class="genomlab-download-csv" href="{REGISTER_PATH}.csv">register.csv</a> · '
        f'<a class="genomlab-download-json" href="{REGISTER_PATH}.json">register.json</a> '
        "(Schema: docs/register-schema.md)</p>"
    )
    return _page_html("Antragsregister / Register · genomDE", body)


def render_project_html(config: GenomlabConfig, project: str) -> str | None:
    """One project's register page; ``None`` when the register has no entry for it."""
    entry = get_register_entry(config, project)
    if entry is None:
        return None
    body = "<h1>Öffentliches Antragsregister genomDE / Public register</h1>" + project_page_html(
        entry
    ).replace("href='?'", f"href='{REGISTER_PATH}'")
    return _page_html(f"{entry['project_id']} · Antragsregister / Register · genomDE", body)


def register_router(config: GenomlabConfig) -> APIRouter:
    """The public register's routes (no sign-in) over ``config``'s platform store."""
    router = APIRouter()

    async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(function, *args, **kwargs)

    def bad_status(status: str) -> Response | None:
        if status and status not in STATUSES:
            return Response(
                f"unknown status {status!r}; one of: {', '.join(STATUSES[1:])}\n",
                status_code=400,
                media_type="text/plain; charset=utf-8",
                headers=PUBLIC_HEADERS,
            )
        return None

    @router.get(REGISTER_PATH, response_class=HTMLResponse)
    async def register_page(
        q: str = Query("", max_length=200),
        status: str = Query("", max_length=40),
        page: int = Query(1, ge=1, le=1_000_000),
        size: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
        project: str = Query("", max_length=64),
    ) -> Response:
        refused = bad_status(status)
        if refused is not None:
            return refused
        if project.strip():
            text = await in_thread(render_project_html, config, project.strip())
            if text is None:
                body = (
                    f"<h1>Kein Eintrag / Not found</h1><p>Kein Eintrag für / no register "
                    f"entry for {_e(project)}. <a href='{REGISTER_PATH}'>Zum Register / Back "
                    "to the register</a></p>"
                )
                return HTMLResponse(
                    _page_html("Nicht gefunden / Not found · genomDE", body),
                    status_code=404,
                    headers=PUBLIC_HEADERS,
                )
            return HTMLResponse(text, headers=PUBLIC_HEADERS)
        text = await in_thread(
            render_register_html, config, q=q, status=status, page=page, size=size
        )
        return HTMLResponse(text, headers=PUBLIC_HEADERS)

    def export(fmt: Literal["json", "csv"], q: str, status: str) -> str:
        if not q.strip() and not status:
            body, _ = render_whole_register(config, fmt)
            return body
        found = get_register_page(
            config, search=q.strip() or None, status=status or None, limit=None
        )
        return render_register(found.entries, fmt)

    def download(fmt: Literal["json", "csv"], media_type: str) -> Any:
        async def endpoint(
            q: str = Query("", max_length=200), status: str = Query("", max_length=40)
        ) -> Response:
            refused = bad_status(status)
            if refused is not None:
                return refused
            body = await in_thread(export, fmt, q, status)
            return Response(
                body,
                media_type=media_type,
                headers={
                    **PUBLIC_HEADERS,
                    "Content-Disposition": f'inline; filename="register.{fmt}"',
                },
            )

        return endpoint

    def page_json(q: str, status: str, offset: int, limit: int, project: str) -> dict[str, Any]:
        if project.strip():
            return {"entry": get_register_entry(config, project.strip())}
        found = get_register_page(config, search=q.strip() or None, status=status or None,
                                  offset=offset, limit=limit)
        return {"entries": found.entries, "total": found.total,
                "summary": get_register_summary(config)}

    @router.get(REGISTER_PATH + "/page.json")
    async def register_page_json(
        q: str = Query("", max_length=200),
        status: str = Query("", max_length=40),
        offset: int = Query(0, ge=0, le=100_000_000),
        limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
        project: str = Query("", max_length=64),
    ) -> Response:
        refused = bad_status(status)
        if refused is not None:
            return refused
        body = await in_thread(page_json, q, status, offset, limit, project)
        return JSONResponse(body, headers=PUBLIC_HEADERS)

    router.add_api_route(
        REGISTER_PATH + ".json",
        download("json", "application/json"),
        methods=["GET"],
        name="register_json",
    )
    router.add_api_route(
        REGISTER_PATH + ".csv",
        download("csv", "text/csv; charset=utf-8"),
        methods=["GET"],
        name="register_csv",
    )
    return router
