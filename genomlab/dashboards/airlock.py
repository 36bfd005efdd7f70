"""The airlock dashboard for output checkers: queue, each output shown inline, decisions per file.

As OpenSAFELY's Airlock: every file of a request is shown as it will be released (tables rendered,
images displayed, text as text) with its disclosure-check results beside it, and a checker
decides per file -- approve, reject, or request changes with a comment to the author. A checker
who has decided a file sees their decision instead of the buttons. Decisions go through
:func:`~genomlab.airlock.requests.record_file_review`, so every rule (two different checkers per
file, never the author or the team, a reason for every decision) holds here too. The acting user
is the verified person of the credentials file (the notebook's ``credentials`` parameter, else
``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``), never ``$JUPYTERHUB_USER``.
When the airlock service runs (a checker's server behind the hub: the airlock's and platform's
signing keys stay with the services), decisions go to it over HTTPS with the person's token
(:class:`genomlab.clients.airlock.AirlockClient`), and the service acts as the token's subject;
the queue, each request and its files are read through it too (the service shows them to output
checkers, and a request to its author and its project's team), so the person's account needs
no access to the airlock's or the platform's store.
Every user-supplied text is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from genomlab.airlock.directory import CHECKER_ROLES, AirlockDirectory, PlatformDirectory
from genomlab.airlock.files import TABLE_SUFFIXES, read_output_table
from genomlab.airlock.requests import (
    OPEN_STATES,
    REQUIRED_REVIEWS,
    RequestDetail,
    get_queue,
    get_request_detail,
    get_snapshot_file,
    record_file_review,
    request_detail_from_json,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, PermissionDenied

_e = html.escape
_STYLE = ("<style>.genomlab-airlock-queue td, .genomlab-airlock-queue th,"
          " .genomlab-airlock-preview td, .genomlab-airlock-preview th {padding: 3px 10px;"
          " text-align: left; vertical-align: top; border-bottom: 1px solid #ddd}"
          " .genomlab-airlock-card {display: flex; gap: 2em; align-items: flex-start}"
          " .genomlab-airlock-content {flex: 3; max-height: 420px; overflow: auto}"
          " .genomlab-airlock-checks {flex: 2}"
          " .genomlab-airlock-checks .check-fail {color: #a3001b}"
          " .genomlab-airlock-checks .check-review {color: #6b4500}"
          " .genomlab-airlock-content img {max-width: 100%}</style>")
QUEUE_COLUMNS = ("request_id", "project", "author", "status", "check_status", "n_reviews",
                 "submitted_at")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
DECISION_LABELS = {"approve": "Approve", "changes": "Request changes", "reject": "Reject"}
DECISION_STYLES = {"approve": "success", "changes": "warning", "reject": "danger"}


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
    head = "".join(f"<th scope='col'>{_e(c)}</th>" for c in QUEUE_COLUMNS)
    body = "".join(
        f"<tr data-request='{_e(str(r['request_id']))}'>"
        + "".join(f"<td>{_e(str(r[c])[:19])}</td>" for c in QUEUE_COLUMNS) + "</tr>"
        for r in rows)
    return (f"<table class='genomlab-airlock-queue'><caption>Open release requests</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def file_content_html(path: Path, *, max_rows: int = 50, max_chars: int = 5000) -> str:
    """A request's file as a reviewer sees it: a table (first ``max_rows`` rows), an image,
    or the first ``max_chars`` characters of text; escaped.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "by_sex.csv"
    >>> _ = p.write_text("sex,n\\n<b>F</b>,12\\n")
    >>> "<td>&lt;b&gt;F&lt;/b&gt;</td>" in file_content_html(p)
    True
    """
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        try:
            table = read_output_table(path)
        except GenomlabError as exc:
            return f"<p>{_e(str(exc))}</p>"
        head = "".join(f"<th scope='col'>{_e(c)}</th>" for c in table.columns)
        body = "".join("<tr>" + "".join(f"<td>{_e('' if v is None else str(v))}</td>"
                                        for v in row) + "</tr>"
                       for row in table.head(max_rows).iter_rows())
        more = (f"<p>first {max_rows} of {table.height} rows</p>"
                if table.height > max_rows else "")
        return (f"<table class='genomlab-airlock-preview'><caption>{_e(path.name)}: "
                f"{table.height} rows</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>{more}")
    if suffix in IMAGE_TYPES:
        data = base64.b64encode(path.read_bytes()).decode()
        return (f"<img class='genomlab-airlock-image' alt='{_e(path.name)} as submitted' "
                f"src='data:{IMAGE_TYPES[suffix]};base64,{data}'>")
    raw = path.read_bytes()
    try:
        text = raw[:max_chars].decode()
    except UnicodeDecodeError:
        return f"<p>{_e(path.name)}: binary file of {len(raw)} bytes, not shown</p>"
    return f"<pre>{_e(text)}</pre>"


def file_checks_html(file: dict[str, Any]) -> str:
    """A file's disclosure-check results and the decisions on it so far, escaped."""
    results = "".join(
        f"<li class='check-{_e(r.status)}'>{_e(r.check)}: <b>{_e(r.status)}</b>"
        + "".join(f"<br>{_e(reason)}" for reason in r.reasons) + "</li>"
        for r in file["results"])
    decisions = "".join(
        f"<li>{_e(d['reviewer'])}: <b>{_e(DECISION_LABELS.get(d['decision'], d['decision']))}"
        f"</b> — {_e(d['reason'])}</li>" for d in file["decisions"])
    released = (f"<p>released: {_e(file['released_path'])}</p>"
                if file["released_path"] else "")
    return (f"<div class='genomlab-airlock-checks'><h4>Disclosure checks: "
            f"{_e(file['check_status'])}</h4><ul>{results or '<li>no checks apply</li>'}</ul>"
            f"<h4>Decisions ({len(file['decisions'])} of {REQUIRED_REVIEWS})</h4>"
            f"<ul>{decisions or '<li>none yet</li>'}</ul>"
            f"<p><code>sha256 {_e(file['sha256'][:16])}…</code></p>{released}</div>")


def snapshot_content_html(name: str, content: bytes) -> str:
    """:func:`file_content_html` of a checked file's bytes (as the airlock service sends them),
    through a private temporary copy named as the file."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="genomlab-airlock-view-") as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(content)
        return file_content_html(path)


def file_card_html(config: GenomlabConfig, request_id: str, file: dict[str, Any],
                   service: Any = None) -> str:
    """One file: its heading, content inline and its checks and decisions beside it; the
    content from the airlock ``service`` (an :class:`~genomlab.clients.airlock.AirlockClient`)
    if given, else from the snapshot in this process."""
    content = (file_content_html(get_snapshot_file(config, request_id, file["name"]))
               if service is None else snapshot_content_html(
                   file["name"], service.get_snapshot_content(request_id, file["name"])))
    return (f"<h3><span class='genomlab-airlock-name'>{_e(file['name'])}</span> "
            f"<small>({_e(file['kind'])})</small></h3>"
            f"<div class='genomlab-airlock-card'><div class='genomlab-airlock-content'>"
            f"{content}</div>{file_checks_html(file)}</div>")


def request_summary_html(detail: RequestDetail) -> str:
    """The request's heading, justification, differencing and whole-request reviews."""
    req = detail.request
    parts = [f"<h2>{_e(req['request_id'])} · {_e(req['project'])} · by {_e(req['author'])} · "
             f"<span class='genomlab-airlock-status'>{_e(req['status'])}</span></h2>"]
    if req["justification"]:
        parts.append(f"<p><b>Justification:</b> {_e(req['justification'])}</p>")
    diff = detail.differencing
    parts.append(f"<p class='genomlab-airlock-differencing'>Differencing with earlier releases: "
                 f"<b>{_e(diff.status)}</b>"
                 + "".join(f"<br>{_e(r)}" for r in diff.reasons if diff.status != "pass")
                 + "</p>")
    return "".join(parts)


def get_decidable_files(detail: RequestDetail, user: str, *, checker: bool,
                        on_team: bool) -> set[str]:
    """The files of a request ``user`` may still decide: an independent checker, an open request,
    a file without their decision and with fewer than two decisions.

    Examples
    --------
    >>> from genomlab.airlock.checks import CheckResult
    >>> files = [{"name": "a.csv", "decisions": [{"reviewer": "hanna"}]},
    ...          {"name": "b.csv", "decisions": []}]
    >>> d = RequestDetail({"status": "partially_reviewed", "author": "alice"}, files, [],
    ...                   CheckResult("pass", "differencing"))
    >>> sorted(get_decidable_files(d, "hanna", checker=True, on_team=False))
    ['b.csv']
    >>> get_decidable_files(d, "alice", checker=True, on_team=False)
    set()
    """
    req = detail.request
    if not checker or on_team or user == req["author"] or req["status"] not in OPEN_STATES:
        return set()
    return {f["name"] for f in detail.files
            if len(f["decisions"]) < REQUIRED_REVIEWS
            and all(d["reviewer"] != user for d in f["decisions"])}


class AirlockDashboard:
    """The widgets and their callbacks; :func:`airlock_view` builds one."""

    def __init__(self, config: GenomlabConfig, user: str, directory: AirlockDirectory | None,
                 service: Any = None, roles: tuple[str, ...] = ()) -> None:
        import ipywidgets as widgets

        self.config, self.user = config, user
        self.directory = directory or PlatformDirectory(config)
        # an AirlockClient when the airlock service runs: then everything is read through it
        # (the person's account cannot open the airlock's or the platform's store), and
        # ``roles`` are the person's roles as the platform service answered them
        self.service = service
        self.checker = (self.directory.is_output_checker(user) if service is None
                        else bool(set(roles) & {r.value for r in CHECKER_ROLES}))
        header = widgets.HTML(
            f"{_STYLE}<p class='genomlab-airlock-user'>Signed in as <b>{_e(user)}</b> "
            f"({'output checker' if self.checker else 'not an output checker'})</p>")
        self.queue = widgets.HTML()
        self.picker = widgets.Dropdown(description="Request", options=[])
        self.picker.add_class("genomlab-airlock-picker")
        self.summary = widgets.HTML()
        self.files = widgets.VBox()
        self.message = widgets.HTML()
        self.message.add_class("genomlab-airlock-message")
        self.picker.observe(lambda _: self.show(), names="value")
        self.widget = widgets.VBox([header, self.queue, self.picker, self.summary, self.files,
                                    self.message])
        self.widget.add_class("genomlab-airlock")
        self.refresh()

    def refresh(self, selected: str | None = None) -> None:
        """Re-read the queue and show ``selected`` (or the first open request)."""
        if self.service is None:
            rows = get_queue(self.config, statuses=OPEN_STATES)
        else:
            try:
                rows = self.service.get_queue(statuses=OPEN_STATES)
            except PermissionDenied:  # not an output checker: the service shows no queue
                rows = []
        self.queue.value = queue_table_html(rows)
        ids = [str(r["request_id"]) for r in rows]
        if selected and selected not in ids:
            ids.append(selected)
        self.picker.options = ids
        if ids:
            self.picker.value = selected if selected in ids else ids[0]
        self.show()

    def show(self) -> None:
        """One request: its summary, then each file with its checks and the user's actions."""
        import ipywidgets as widgets

        if not self.picker.value:
            self.summary.value, self.files.children = "", ()
            return
        request_id = self.picker.value
        if self.service is None:
            detail = get_request_detail(self.config, request_id)
            on_team = self.directory.is_team_member(self.user, detail.request["project"])
        else:
            try:
                answer = self.service.get_request_detail(request_id)
            except GenomlabError as exc:
                self.summary.value = f"<p class='refused'>{_e(str(exc))}</p>"
                self.files.children = ()
                return
            detail, on_team = request_detail_from_json(answer), bool(answer["caller"]["on_team"])
        self.summary.value = request_summary_html(detail)
        open_files = get_decidable_files(detail, self.user, checker=self.checker,
                                         on_team=on_team)
        boxes = []
        for file in detail.files:
            parts: list[Any] = [widgets.HTML(file_card_html(self.config, request_id, file,
                                                            self.service))]
            mine = [d for d in file["decisions"] if d["reviewer"] == self.user]
            if file["name"] in open_files:
                parts.append(self._actions(request_id, file["name"]))
            elif mine:
                parts.append(widgets.HTML(
                    f"<p class='genomlab-airlock-mine'>You decided: "
                    f"<b>{_e(DECISION_LABELS[mine[0]['decision']])}</b></p>"))
            box = widgets.VBox(parts)
            box.add_class("genomlab-airlock-file")
            boxes.append(box)
        self.files.children = boxes

    def _actions(self, request_id: str, name: str) -> Any:
        """The labelled comment field above the three decision buttons of one file."""
        import ipywidgets as widgets

        comment = widgets.Textarea(
            description="Reason",
            placeholder="Reason for your decision; for 'Request changes' what to change "
                        "(recorded, shown to the author)",
            layout=widgets.Layout(width="70%"))
        comment.add_class("genomlab-airlock-reason")
        buttons = []
        for decision, label in DECISION_LABELS.items():
            button = widgets.Button(description=label, button_style=DECISION_STYLES[decision],
                                    tooltip=f"{label}: {name}")
            button.add_class(f"genomlab-airlock-{decision}")
            button.on_click(lambda _, d=decision: self.decide(request_id, name, d,
                                                              comment.value))
            buttons.append(button)
        return widgets.VBox([comment, widgets.HBox(buttons)])

    def decide(self, request_id: str, name: str, decision: str, reason: str) -> None:
        """Record the user's decision on one file and show the request again."""
        try:
            if self.service is not None:
                status = self.service.record_file_review(request_id, name, decision, reason)
            else:
                status = record_file_review(self.config, self.directory, self.user, request_id,
                                            name, decision, reason)  # type: ignore[arg-type]
        except GenomlabError as exc:
            self.message.value = f"<p class='refused'>Refused: {_e(str(exc))}</p>"
            return
        self.refresh(request_id)
        self.message.value = (f"<p class='recorded'>{_e(name)}: {_e(DECISION_LABELS[decision])}"
                              f" recorded; {_e(request_id)} is {_e(status)}</p>")


def airlock_view(config: GenomlabConfig, *, user: str | None = None,
                 directory: AirlockDirectory | None = None,
                 credentials: str | Path | None = None) -> Any:
    """An ipywidgets view: the queue, one request's files with content, checks and decisions,
    for ``user`` (an id the caller verified already) or else the verified person of
    ``credentials``.

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
    service: Any = None
    roles: tuple[str, ...] = ()
    if user is None:
        from genomlab.clients.data_service import load_person_tokens, service_running
        from genomlab.platform.person_session import open_person_session

        path = None if credentials is None else Path(credentials)
        session = open_person_session(config, path)
        user, roles = session.user_id, session.roles
        if service_running(config, "airlock"):
            from genomlab.clients.airlock import AirlockClient

            client = getattr(session, "client", None)  # a ServiceSession: its tokens
            service = AirlockClient(config, client.tokens if client is not None
                                    else load_person_tokens(config, path))
    return AirlockDashboard(config, user, directory, service, roles).widget
