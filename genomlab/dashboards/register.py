"""The public register page (Voila): who uses genomDE data, for what, and what came of it.

Reads the projection with paginated SQL (no Spark), 50 entries a page, newest first, with a
search field and a status filter. Every text comes from applicants and is escaped; result links
are made only for ``https://`` URLs and DOIs.
"""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import func, select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.dashboards.first_screen import show_with_first_screen
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.register import RegisterPage, get_register_page
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
    """A result as escaped text, linked only if the reference is an https URL or a DOI.

    Examples
    --------
    >>> result_link_html("publication", "A <b>", "javascript:alert(1)")
    'publication: A &lt;b&gt; (javascript:alert(1))'
    >>> result_link_html("report", "R", "doi:10.1/x")
    'report: <a href="https://doi.org/10.1/x" rel="noopener" target="_blank">R</a>'
    """
    href = None
    if reference.startswith("https://"):
        href = reference
    elif reference.lower().startswith("doi:"):
        href = "https://doi.org/" + reference[4:]
    if href is None:
        return f"{_e(kind)}: {_e(title)} ({_e(reference)})"
    return f'{_e(kind)}: <a href="{_e(href)}" rel="noopener" target="_blank">{_e(title)}</a>'


def register_table_html(page: RegisterPage) -> str:
    """Register entries as an escaped HTML table."""
    head = "".join(f"<th>{h}</th>" for h in (
        "Project", "Title and lay summary", "Applicant / institution", "Authorised users",
        "Purposes", "DUO", "Data requested", "Status", "Decision", "Results"))
    rows = []
    for e in page.entries:
        duo = " ".join([e["duo_permission"], e["disease"] or "", *e["duo_modifiers"]])
        data = f"{', '.join(e['data_categories'])}; {e['level']}"
        if e["clinical_fields"]:
            data += f"; fields: {', '.join(e['clinical_fields'])}"
        decision = (f"{e['decision']} {e['decision_on']}" if e["decision"] else "pending")
        if e["valid_until"]:
            decision += f"; access {e['valid_from']} – {e['valid_until']}"
        results = "<br>".join(result_link_html(r["kind"], r["title"], r["reference"])
                              for r in e["results"]) or "none reported yet"
        rows.append(
            f'<tr data-project="{_e(e["project_id"])}">'
            f"<td>{_e(e['project_id'])}<br><small>submitted {_e(e['submitted_on'])}</small></td>"
            f"<td class='title'><b>{_e(e['title'])}</b><div class='lay'>{_e(e['lay_summary'])}"
            f"</div></td>"
            f"<td>{_e(e['applicant'])}<br>{_e(e['institution'])}</td>"
            f"<td>{'<br>'.join(_e(u) for u in e['authorised_users'])}</td>"
            f"<td>{_e(', '.join(e['purposes']))}</td><td>{_e(duo)}</td><td>{_e(data)}</td>"
            f"<td class='status'>{_e(e['status'])}</td><td>{_e(decision)}</td>"
            f"<td>{results}</td></tr>")
    return (f'<table class="genomlab-register"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def get_register_summary(config: GenomlabConfig) -> dict[str, int]:
    """Number of register entries per status (applications, not participants)."""
    a = t.applications
    with read_platform(config) as conn:
        rows = conn.execute(select(a.c.status, func.count()).where(a.c.submitted_at.is_not(None))
                            .group_by(a.c.status)).all()
    return {str(status): int(n) for status, n in rows}


def register_view(config: GenomlabConfig, page_size: int = PAGE_SIZE) -> Any:
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
    >>> "1 applications: 1 approved" in header.value, table.value.count(project) > 0
    (True, True)
    """
    import ipywidgets as widgets

    summary = get_register_summary(config)
    counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(summary.items()))
    header = widgets.HTML(
        f"{STYLE}<p class='genomlab-summary'>{sum(summary.values())} applications: {_e(counts)}. "
        "Export: <code>genomlab platform register export register.json|register.csv</code>.</p>")
    search = widgets.Text(placeholder="title, project, institution, purpose",
                          description="Search")
    status = widgets.Dropdown(options=[(s.replace("_", " ") or "all", s) for s in STATUSES],
                              value="", description="Status")
    prev, nxt = widgets.Button(description="◀ previous"), widgets.Button(description="next ▶")
    reload = widgets.Button(description="↻ refresh")
    label, table = widgets.HTML(), widgets.HTML()
    state = {"offset": 0}

    def refresh(*_: Any) -> None:
        page = get_register_page(config, search=search.value or None,
                                 status=status.value or None, offset=state["offset"],
                                 limit=page_size)
        table.value = register_table_html(page)
        last = min(state["offset"] + page_size, page.total)
        first = state["offset"] + 1 if page.total else 0
        label.value = (f"<span class='genomlab-page'>{first}–{last} of {page.total}</span> "
                       f"<small>as of {clock.now():%H:%M:%S} UTC</small>")
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
    box = widgets.VBox([header, widgets.HBox([search, status, prev, nxt, reload, label]), table])
    box.add_class("genomlab-register-view")
    return box


def show_register(config: GenomlabConfig, page_size: int = PAGE_SIZE) -> None:
    """Display the register with a server-rendered first screen (the newest page as static
    HTML, replaced by the live widgets once they load).

    Examples
    --------
    Outside a notebook ``display`` prints what it shows: the snapshot, then the live box.

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> show_register(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    <IPython.core.display.HTML object>
    VBox(children=(HTML(value='<style>.genomlab-first-screen {display: none}</style>'), VBox(...
    """
    show_with_first_screen(register_view(config, page_size=page_size))
