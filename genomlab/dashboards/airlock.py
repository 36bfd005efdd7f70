"""The airlock dashboard for output checkers: queue, outputs with check results, approve / reject.

Reads the airlock projection through :mod:`genomlab.airlock.requests` (no Spark) and decides
through the same :func:`record_review` the CLI uses, so every rule (two different checkers, never
the author or the team, a reason for every decision) holds here too. The acting user is
``$JUPYTERHUB_USER`` or ``local_user``. Every user-supplied text is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from genomlab.airlock.directory import AirlockDirectory, PlatformDirectory
from genomlab.airlock.identity import get_current_user
from genomlab.airlock.requests import (
    OPEN_STATES,
    RequestDetail,
    get_queue,
    get_request_detail,
    record_review,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError

_e = html.escape
_STYLE = ("<style>.genomlab-airlock-queue td, .genomlab-airlock-queue th,"
          " .genomlab-airlock-files td, .genomlab-airlock-files th {padding: 3px 10px;"
          " text-align: left; vertical-align: top; border-bottom: 1px solid #ddd}"
          " .genomlab-airlock-files tr.check-fail td {background: #fdecea}"
          " .genomlab-airlock-files tr.check-review td {background: #fff8e1}</style>")
QUEUE_COLUMNS = ("request_id", "project", "author", "status", "check_status", "n_reviews",
                 "submitted_at")


def queue_table_html(rows: list[dict[str, Any]]) -> str:
    """The queue as an escaped HTML table.

    Examples
    --------
    >>> queue_table_html([{"request_id": "AR-000001", "project": "P", "author": "<b>",
    ...     "status": "submitted", "check_status": "pass", "n_reviews": 0,
    ...     "submitted_at": "2026-11-22T10:00"}]).count("&lt;b&gt;")
    1
    """
    if not rows:
        return "<p class='genomlab-airlock-empty'>No open release requests.</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in QUEUE_COLUMNS)
    body = "".join(
        f"<tr data-request='{_e(str(r['request_id']))}'>"
        + "".join(f"<td>{_e(str(r[c])[:19])}</td>" for c in QUEUE_COLUMNS) + "</tr>"
        for r in rows)
    return (f"<table class='genomlab-airlock-queue'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def request_detail_html(detail: RequestDetail) -> str:
    """One request: its files with every check's status and reasons, differencing and reviews."""
    req = detail.request
    parts = [f"<h3>{_e(req['request_id'])} · {_e(req['project'])} · by {_e(req['author'])} · "
             f"<span class='genomlab-airlock-status'>{_e(req['status'])}</span></h3>"]
    if req["justification"]:
        parts.append(f"<p><b>Justification:</b> {_e(req['justification'])}</p>")
    rows = []
    for f in detail.files:
        reasons = "<br>".join(f"{_e(r.check)} <b>{_e(r.status)}</b>: {_e(reason)}"
                              for r in f["results"] if r.status != "pass" for reason in r.reasons)
        released = (f"<br>released: {_e(f['released_path'])}" if f["released_path"] else "")
        rows.append(f"<tr class='check-{_e(f['check_status'])}'><td>{_e(f['name'])}</td>"
                    f"<td>{_e(f['kind'])}</td><td><b>{_e(f['check_status'])}</b></td>"
                    f"<td>{reasons or 'all checks pass'}</td>"
                    f"<td><code>{_e(f['sha256'][:16])}…</code>{released}</td></tr>")
    parts.append("<table class='genomlab-airlock-files'><thead><tr><th>file</th><th>kind</th>"
                 "<th>checks</th><th>reasons</th><th>sha256</th></tr></thead>"
                 f"<tbody>{''.join(rows)}</tbody></table>")
    diff = detail.differencing
    parts.append(f"<p class='genomlab-airlock-differencing'>Differencing with earlier releases: "
                 f"<b>{_e(diff.status)}</b>"
                 + "".join(f"<br>{_e(r)}" for r in diff.reasons if diff.status != "pass")
                 + "</p>")
    reviews = "".join(f"<li>{_e(r['reviewer'])}: <b>{_e(r['decision'])}</b> — {_e(r['reason'])}"
                      f"</li>" for r in detail.reviews)
    parts.append(f"<p>Reviews ({len(detail.reviews)} of 2):</p><ul>{reviews}</ul>")
    return "".join(parts)


def airlock_view(config: GenomlabConfig, *, user: str | None = None,
                 directory: AirlockDirectory | None = None) -> Any:
    """An ipywidgets view: the queue, one request's outputs and checks, approve / reject.

    Examples
    --------
    On a home where nobody holds the output-checker role yet:

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.dashboards.first_screen import get_static_html
    >>> view = airlock_view(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}), user="eve")
    >>> html = get_static_html(view)
    >>> "(not an output checker)" in html, "No open release requests." in html
    (True, True)
    """
    import ipywidgets as widgets

    user = user or get_current_user(config)
    directory = directory or PlatformDirectory(config)
    checker = directory.is_output_checker(user)
    header = widgets.HTML(
        f"{_STYLE}<p class='genomlab-airlock-user'>Signed in as <b>{_e(user)}</b> "
        f"({'output checker' if checker else 'not an output checker'})</p>")
    queue = widgets.HTML()
    picker = widgets.Dropdown(description="Request", options=[])
    detail = widgets.HTML()
    reason = widgets.Textarea(placeholder="Reason for your decision (recorded)",
                              layout=widgets.Layout(width="60%"))
    reason.add_class("genomlab-airlock-reason")
    approve = widgets.Button(description="Approve", button_style="success")
    approve.add_class("genomlab-airlock-approve")
    reject = widgets.Button(description="Reject", button_style="danger")
    reject.add_class("genomlab-airlock-reject")
    message = widgets.HTML()
    message.add_class("genomlab-airlock-message")

    def refresh(selected: str | None = None) -> None:
        rows = get_queue(config, statuses=OPEN_STATES)
        queue.value = queue_table_html(rows)
        ids = [str(r["request_id"]) for r in rows]
        if selected and selected not in ids:
            ids.append(selected)
        picker.options = ids
        if ids:
            picker.value = selected if selected in ids else ids[0]
        show()

    def show(*_: Any) -> None:
        detail.value = (request_detail_html(get_request_detail(config, picker.value))
                        if picker.value else "")

    def decide(decision: str) -> None:
        request_id = picker.value
        if not request_id:
            message.value = "<p class='refused'>No request selected.</p>"
            return
        try:
            status = record_review(config, directory, user, request_id,
                                   "approve" if decision == "approve" else "reject", reason.value)
        except GenomlabError as exc:
            message.value = f"<p class='refused'>Refused: {_e(str(exc))}</p>"
            return
        reason.value = ""
        message.value = f"<p class='recorded'>{_e(request_id)}: {_e(status)}</p>"
        refresh(request_id)

    picker.observe(show, names="value")
    approve.on_click(lambda _: decide("approve"))
    reject.on_click(lambda _: decide("reject"))
    refresh()
    return widgets.VBox([header, queue, picker, detail, reason,
                         widgets.HBox([approve, reject]), message])
