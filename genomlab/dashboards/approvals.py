"""Approvals dashboard (Voila) for handlers, committee members and deciders.

A queue with filters and age (50 rows a page, indexed SQL on the projection, no Spark), the
detail of one application with its DUO matching verdicts, votes and timeline, and the actions
the signed-in user may take, with a reason field. Identity: the verified person of the
credentials file (the notebook's ``credentials`` parameter, else ``$GENOMLAB_CREDENTIALS`` of
the Voila server or kernel, else ``~/.genomlab/credentials.json``; issue 15), never
``$JUPYTERHUB_USER``; roles come from the platform (its store, or the service's ``/api/me``).
Every command goes through :class:`~genomlab.platform.applications.Workflow`, which checks role,
conflict of interest and state again, so the buttons are a convenience, not the guard. When the
platform service runs (a person's server behind the hub: the platform's signing key stays with
the service), the commands go to it over HTTPS with the person's token
(``genomlab.platform.person_session``), and the service acts as the token's verified subject;
the queue, the detail, the allowed actions, the earlier projects and the attachments are read
through it too (:class:`ServiceReads`; the person's account cannot open the platform's store),
and the service shows the token's subject only what
:data:`~genomlab.platform.applications.queries.QUEUE_ROLES` and the application's team allow.
Without the service (the embedded default) :class:`StoreReads` reads the store in this process.
All applicant text is escaped.
"""

from __future__ import annotations

import base64
import html
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.dashboards.first_screen import show_with_first_screen
from genomlab.errors import GenomlabError, NotFoundError
from genomlab.messages import CohortCriteria
from genomlab.platform.applications import Workflow, get_user_roles
from genomlab.platform.applications.models import OPEN_STATUSES, Role, Status
from genomlab.platform.applications.queries import (
    DEFAULT_PAGE_SIZE,
    ApplicationDetail,
    QueuePage,
    get_allowed_actions,
    get_application_detail,
    get_earlier_projects,
    get_queue_page,
    may_see_queue,
)
from genomlab.platform.applications.workflow import DOCUMENT_KINDS, get_attachment_path
from genomlab.platform.person_session import PersonSession, ServiceSession, open_person_session

STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "open": tuple(OPEN_STATUSES),
    **{s.value: (s.value,) for s in Status if s is not Status.DRAFT},
}
PURPOSES = ("", "care", "quality_assurance", "evaluation", "research")
VERDICT_COLOURS = {"allowed": "#1b7f3b", "needs_review": "#a86b00", "blocked": "#b00020"}
ACTION_LABELS = {"assign": "Assign to me", "request_review": "Request committee review",
                 "return": "Return to applicant", "approve": "Approve", "reject": "Reject",
                 "close": "Close", "revoke": "Revoke", "submit": "Submit",
                 "request_decision": "Request decision", "comment": "Comment to applicant"}
CONFIRMED_ACTIONS = ("approve", "revoke")
"""Actions that take effect for people outside the platform: asked to confirm first."""
SEX_WORDS = {"male": "men", "female": "women", "other": "persons of other sex",
             "unknown": "persons of unknown sex"}
STYLE = """<style>
.genomlab-queue, .genomlab-detail table {border-collapse: collapse; font-size: 13px}
.genomlab-queue th, .genomlab-queue td, .genomlab-detail td, .genomlab-detail th
  {border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top}
.genomlab-queue tr.old td.age {color: #b00020; font-weight: bold}
</style>"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _as_words(value: Any) -> str:
    """A timeline value as text: a list of records as ``a b, c d``, not a Python literal.

    Examples
    --------
    >>> _as_words([{"node": "GRZK00001", "count": "12"}]), _as_words(["sex", "age"])
    ('GRZK00001 12', 'sex, age')
    """
    if isinstance(value, list):
        return ", ".join(" ".join(str(x) for x in v.values()) if isinstance(v, dict) else str(v)
                         for v in value)
    return str(value)


class ApprovalsReads(Protocol):
    """What the approvals dashboard reads, for the person ``user`` it shows."""

    def get_user_roles(self, user: str) -> frozenset[Role]: ...

    def get_queue_page(self, **filters: Any) -> QueuePage: ...

    def get_application_detail(self, application_id: str) -> ApplicationDetail: ...

    def get_allowed_actions(self, user: str, detail: ApplicationDetail,
                            roles: frozenset[Role]) -> list[str]: ...

    def get_earlier_projects(self, detail: ApplicationDetail) -> list[dict[str, Any]]: ...

    def get_attachment(self, application_id: str, sha256: str, name: str) -> bytes | None: ...


class StoreReads:
    """The reads in this process, from the platform's store: the embedded default (one account
    holds the home)."""

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config

    def get_user_roles(self, user: str) -> frozenset[Role]:
        return get_user_roles(self.config, user)

    def get_queue_page(self, **filters: Any) -> QueuePage:
        return get_queue_page(self.config, **filters)

    def get_application_detail(self, application_id: str) -> ApplicationDetail:
        return get_application_detail(self.config, application_id)

    def get_allowed_actions(self, user: str, detail: ApplicationDetail,
                            roles: frozenset[Role]) -> list[str]:
        return get_allowed_actions(self.config, user, detail, roles)

    def get_earlier_projects(self, detail: ApplicationDetail) -> list[dict[str, Any]]:
        return get_earlier_projects(self.config, detail)

    def get_attachment(self, application_id: str, sha256: str, name: str) -> bytes | None:
        path = get_attachment_path(self.config, application_id, sha256, name)
        return path.read_bytes() if path.is_file() else None


class ServiceReads:
    """The reads from the running platform service with the person's token
    (:class:`genomlab.clients.platform.PlatformPersonClient`): the service answers for the
    token's verified subject only, so ``user`` here is who the token speaks for."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get_user_roles(self, user: str) -> frozenset[Role]:
        del user
        roles: frozenset[Role] = self.client.get_user_roles()
        return roles

    def get_queue_page(self, **filters: Any) -> QueuePage:
        page: QueuePage = self.client.get_queue_page(**filters)
        return page

    def get_application_detail(self, application_id: str) -> ApplicationDetail:
        detail: ApplicationDetail = self.client.get_application_detail(application_id)
        return detail

    def get_allowed_actions(self, user: str, detail: ApplicationDetail,
                            roles: frozenset[Role]) -> list[str]:
        del user, roles
        actions: list[str] = self.client.get_allowed_actions(detail.row["application_id"])
        return actions

    def get_earlier_projects(self, detail: ApplicationDetail) -> list[dict[str, Any]]:
        projects: list[dict[str, Any]] = self.client.get_earlier_projects(
            detail.row["application_id"])
        return projects

    def get_attachment(self, application_id: str, sha256: str, name: str) -> bytes | None:
        del name
        try:
            content: bytes = self.client.get_attachment(application_id, sha256)
        except NotFoundError:
            return None
        return content


def queue_table_html(page: QueuePage, *, overdue_days: int = 14) -> str:
    """The queue page as an escaped HTML table; rows older than ``overdue_days`` (EGA's two-week
    norm for answering a request) are marked.

    Examples
    --------
    >>> page = QueuePage([{"application_id": "APP-1", "title": "<b>x</b>", "age_days": 20}],
    ...                  1, 0, 50)
    >>> "&lt;b&gt;x&lt;/b&gt;" in queue_table_html(page)
    True
    """
    columns = [("application_id", "Application"), ("project_id", "Project"), ("title", "Title"),
               ("applicant", "Applicant"), ("institution", "Institution"),
               ("purposes", "Purposes"), ("duo_permission", "DUO"), ("level", "Level"),
               ("status", "Status"), ("handler", "Handler"), ("n_votes", "Votes"),
               ("age_days", "Age (days)")]
    head = "".join(f"<th>{_e(label)}</th>" for _, label in columns)
    body = []
    for row in page.rows:
        old = (row.get("age_days") or 0) > overdue_days
        cells = "".join(
            f'<td class="{"age" if key == "age_days" else key}">{_e(row.get(key))}</td>'
            for key, _ in columns)
        body.append(f'<tr class="{"old" if old else ""}" '
                    f'data-application="{_e(row["application_id"])}">{cells}</tr>')
    return (f'<table class="genomlab-queue"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def get_dataset_decisions(detail: ApplicationDetail) -> dict[str, dict[str, str]]:
    """dataset id → the latest decider's decision on it (``decision``, ``by``, ``reason``)."""
    return {h["detail"]["dataset_id"]: {"decision": h["detail"]["decision"], "by": h["actor"],
                                        "reason": h["detail"].get("reason", "")}
            for h in detail.history if h["type"] == "dataset_decided"}


def describe_criteria(criteria: CohortCriteria) -> str:
    """Cohort criteria in words, as a decider reads them.

    Examples
    --------
    >>> describe_criteria(CohortCriteria(icd10gm_prefixes=("C50",), sexes=("female",)))
    'women; with an ICD-10-GM diagnosis starting C50'
    >>> describe_criteria(CohortCriteria())
    'all persons (no restriction)'
    """
    parts = []
    if criteria.sexes:
        parts.append(" and ".join(SEX_WORDS[s] for s in criteria.sexes))
    if criteria.disease_types:
        parts.append(" or ".join(criteria.disease_types) + " disease cases")
    if criteria.icd10gm_prefixes:
        parts.append("with an ICD-10-GM diagnosis starting "
                     + " or ".join(criteria.icd10gm_prefixes))
    if criteria.hpo_terms:
        parts.append("with HPO term " + " or ".join(criteria.hpo_terms))
    if criteria.library_types:
        parts.append("sequenced as " + " or ".join(criteria.library_types))
    return "; ".join(parts) or "all persons (no restriction)"


def attachments_html(reads: ApprovalsReads, detail: ApplicationDetail) -> str:
    """The case file's documents, each with a download link, size and checksum; escaped."""
    rows = []
    for h in detail.history:
        if h["type"] != "document_attached":
            continue
        d = h["detail"]
        link = _e(d["name"])
        content = reads.get_attachment(detail.row["application_id"], d["sha256"], d["name"])
        if content is not None:
            data = base64.b64encode(content).decode()
            link = (f'<a download="{_e(d["name"])}" '
                    f'href="data:application/octet-stream;base64,{data}">{_e(d["name"])}</a>')
        rows.append(f'<tr class="attachment-{_e(d["kind"])}"><td>'
                    f'{_e(DOCUMENT_KINDS.get(d["kind"], d["kind"]))}</td><td>{link}</td>'
                    f'<td>{_e(d["size"])} bytes</td><td><code>{_e(d["sha256"][:16])}…</code></td>'
                    f'<td>{_e(h["actor"])}, {_e(h["at"][:10])}</td></tr>')
    body = "".join(rows) or '<tr><td>no documents attached</td></tr>'
    return (f'<h3>Attachments</h3><table class="genomlab-attachments">{body}</table>')


def recommendation_html(detail: ApplicationDetail) -> str:
    """The handler's latest recommendation and the comments to the applicant; escaped."""
    requested = [h for h in detail.history if h["type"] == "decision_requested"]
    if requested:
        last = requested[-1]
        text = (f'<p class="genomlab-recommendation">{_e(last["actor"])} recommends '
                f'<b>{_e(last["detail"]["recommendation"])}</b> ({_e(last["at"][:10])}): '
                f'{_e(last["detail"]["note"])}</p>')
    else:
        text = '<p class="genomlab-recommendation">No recommendation yet.</p>'
    comments = "".join(f'<li>{_e(h["actor"])}, {_e(h["at"][:10])}: {_e(h["detail"]["comment"])}'
                       "</li>" for h in detail.history if h["type"] == "commented")
    return (f"<h3>Handler's recommendation</h3>{text}<h3>Comments to the applicant</h3>"
            f"<ul>{comments or '<li>none</li>'}</ul>")


def feasibility_html(detail: ApplicationDetail) -> str:
    """The expected cohort size per node from the latest attached feasibility answer."""
    answers = [h for h in detail.history if h["type"] == "feasibility_attached"]
    if not answers:
        return ("<h3>Expected cohort size per node</h3><p class='genomlab-feasibility'>"
                "No feasibility answer attached.</p>")
    d = answers[-1]["detail"]
    rows = "".join(f"<tr><td>{_e(n['node'])}</td><td>{_e(n['count'])}</td></tr>"
                   for n in d["nodes"])
    return (f"<h3>Expected cohort size per node</h3><table class='genomlab-feasibility'>"
            f"<caption>Feasibility ({_e(d['query'])}; {_e(answers[-1]['at'][:10])}), counts "
            f"as the data service answered them (suppressed)</caption>"
            f"<thead><tr><th scope='col'>node</th><th scope='col'>persons</th></tr></thead>"
            f"<tbody>{rows}<tr><td><b>total</b></td><td><b>{_e(d['total'])}</b></td></tr>"
            f"</tbody></table>")


def earlier_projects_html(reads: ApprovalsReads, detail: ApplicationDetail) -> str:
    """The applicant's other applications, with their status and results; escaped."""
    rows = []
    for r in reads.get_earlier_projects(detail):
        listed = "; ".join(f"{x['kind']}: {x['title']} ({x['reference']})" for x in r["results"])
        rows.append(f"<tr><td>{_e(r['project_id'])}</td><td>{_e(r['title'])}</td>"
                    f"<td>{_e(r['status'])}</td><td>{_e(listed or 'no results yet')}</td></tr>")
    body = "".join(rows) or "<tr><td>no earlier applications</td></tr>"
    return (f"<h3>The applicant's earlier projects and results</h3>"
            f'<table class="genomlab-earlier">{body}</table>')


def detail_html(detail: ApplicationDetail,
                reads: GenomlabConfig | ApprovalsReads | None = None) -> str:
    """One application as a case file: attachments, the handler's recommendation and comments,
    the applicant's earlier projects (with ``reads``: a configuration read in-process, or
    :class:`ServiceReads`), fields, DUO verdicts, votes and timeline; escaped."""
    row, form = detail.row, detail.form
    fields = [
        ("Title", row["title"]), ("Project", row["project_id"]), ("Status", row["status"]),
        ("Applicant", f"{row['applicant']} ({row['institution']})"),
        ("Team", ", ".join(f"{m['user_id']} ({m['institution'] or '?'})" for m in detail.team)),
        ("Purposes", ", ".join(form.purposes)),
        ("DUO", " ".join([form.duo_permission, form.disease or "", *form.duo_modifiers])),
        ("Data", f"{', '.join(form.data_categories)}; fields: "
                 f"{', '.join(form.clinical_fields) or '-'}; persons: "
                 f"{describe_criteria(form.criteria)}"),
        ("Level", form.level + (f" — justification: {form.individual_justification}"
                                if form.individual_justification else "")),
        ("Duration", f"{form.duration_months} months"),
        ("Ethics vote", form.ethics_vote_reference or "-"),
        ("Commercial use", "yes" if form.commercial else "no"),
        ("Lay summary", form.lay_summary), ("Abstract", form.scientific_abstract),
        ("Changed since last submission", row["changed_fields"] or "-"),
        ("Handler", row["handler"] or "-"), ("Last reason", row["last_reason"] or "-"),
        ("Valid", f"{row['valid_from']} – {row['valid_until']}" if row["valid_from"] else "-"),
    ]
    parts = ['<div class="genomlab-detail"><h2>' + _e(row["application_id"]) + " · "
             + _e(row["title"]) + "</h2>"]
    if reads is not None:
        if isinstance(reads, GenomlabConfig):
            reads = StoreReads(reads)
        parts += [attachments_html(reads, detail), recommendation_html(detail),
                  feasibility_html(detail), earlier_projects_html(reads, detail)]
    parts.append("<h3>Application</h3><table>")
    parts += [f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in fields]
    parts.append("</table><h3>DUO matching</h3><table>")
    decided = get_dataset_decisions(detail)
    for verdict in detail.verdicts:
        colour = VERDICT_COLOURS[verdict.verdict]
        decision = decided.get(verdict.subject)
        said = (f"decided: {decision['decision']} by {decision['by']} — {decision['reason']}"
                if decision else "")
        parts.append(f'<tr class="verdict-{_e(verdict.verdict)}"><td>{_e(verdict.subject)}</td>'
                     f'<td style="color:{colour}"><b>{_e(verdict.verdict)}</b></td>'
                     f"<td>{'<br>'.join(_e(r) for r in verdict.reasons)}</td>"
                     f'<td class="dataset-decision">{_e(said)}</td></tr>')
    parts.append("</table><h3>Committee votes</h3><table>")
    parts += [f"<tr><td>{_e(v['voter'])}</td><td>{_e(v['vote'])}</td><td>{_e(v['comment'])}</td>"
              f"<td>{_e(v['voted_at'][:16])}</td></tr>" for v in detail.votes] or [
        "<tr><td>no votes</td></tr>"]
    parts.append("</table><h3>Timeline</h3><table>")
    for h in detail.history:
        said = "; ".join(f"{k}: {_as_words(v)}" for k, v in h["detail"].items())
        parts.append(f"<tr><td>{_e(h['at'][:16])}</td><td>{_e(h['type'])}</td>"
                     f"<td>{_e(h['actor'])}</td><td>{_e(said)}</td></tr>")
    parts.append("</table></div>")
    return "".join(parts)


PERSON_ACTIONS = {"approve": "review.approve", "vote": "review.vote", "assign": "review.assign",
                  "request_review": "review.request-committee",
                  "request_decision": "review.request-decision",
                  "comment": "review.comment", "submit": "apply.submit",
                  "return": "review.return", "reject": "review.reject", "close": "apply.close",
                  "revoke": "review.revoke"}
"""The dashboard's actions as the platform's person actions (``person_actions.ACTIONS``)."""


def _as_person_action(action: str, reason: str, valid_until: str, vote: str,
                      recommendation: str) -> tuple[str, dict[str, Any]]:
    """The person action and body that do what the dashboard's ``action`` does in-process.

    >>> _as_person_action("approve", "ok", "", "approve", "approve")
    ('review.approve', {'valid_until': None, 'note': 'ok', 'duo_override_reason': 'ok'})
    >>> _as_person_action("dataset:GRZ-1:reject", "no", "", "approve", "approve")[1]
    {'dataset_id': 'GRZ-1', 'decision': 'reject', 'reason': 'no'}
    """
    if action.startswith("dataset:"):
        dataset_id, decision = action.removeprefix("dataset:").rsplit(":", 1)
        return "review.decide-dataset", {"dataset_id": dataset_id, "decision": decision,
                                         "reason": reason}
    bodies: dict[str, dict[str, Any]] = {
        "approve": {"valid_until": valid_until or None, "note": reason,
                    "duo_override_reason": reason},
        "vote": {"vote": vote, "comment": reason},
        "assign": {},
        "submit": {},
        "request_review": {"note": reason},
        "request_decision": {"recommendation": recommendation, "note": reason},
        "comment": {"comment": reason},
    }
    return PERSON_ACTIONS[action], bodies.get(action, {"reason": reason})


class ApprovalsDashboard:
    """The widgets and their callbacks; :func:`approvals_view` builds one."""

    def __init__(self, config: GenomlabConfig, user: str, page_size: int,
                 session: PersonSession | None = None) -> None:
        import ipywidgets as widgets

        self.config, self.user, self.page_size = config, user, page_size
        self.session = session if isinstance(session, ServiceSession) else None
        # behind the hub (a running platform service) everything is read through it: the
        # person's account cannot open the platform's store
        self.reads: ApprovalsReads = (StoreReads(config) if self.session is None
                                      else ServiceReads(self.session.client))
        self.roles = (self.reads.get_user_roles(user) if self.session is None
                      else frozenset(Role(r) for r in self.session.roles
                                     if r in Role._value2member_map_))
        self.offset = 0
        roles_text = ", ".join(sorted(r.value for r in self.roles)) or "applicant only"
        self.header = widgets.HTML(f"{STYLE}<p class='genomlab-who'>Signed in as <b>{_e(user)}</b> "
                                   f"({_e(roles_text)})</p>")
        self.status = widgets.Dropdown(options=list(STATUS_FILTERS), value="open",
                                       description="Status")
        self.purpose = widgets.Dropdown(options=[(p or "all", p) for p in PURPOSES], value="",
                                        description="Purpose")
        self.mine = widgets.Checkbox(value=False, description="assigned to me")
        self.search = widgets.Text(placeholder="title, id, applicant, institution",
                                   description="Search")
        self.prev = widgets.Button(description="◀ previous")
        self.next = widgets.Button(description="next ▶")
        self.reload = widgets.Button(description="↻ refresh")
        self.page_label = widgets.HTML()
        self.queue = widgets.HTML()
        self.chooser = widgets.Dropdown(description="Open", layout={"width": "70%"})
        self.chooser.add_class("genomlab-open")
        self.detail = widgets.HTML()
        self.reason = widgets.Textarea(description="Reason",
                                       placeholder="Required to return, reject, close, revoke, "
                                                   "request a decision; the comment for votes "
                                                   "and to the applicant",
                                       layout={"width": "70%"})
        self.reason.add_class("genomlab-reason")
        self.valid_until = widgets.Text(placeholder="YYYY-MM-DD (optional)",
                                        description="Valid until")
        self.vote = widgets.Dropdown(options=["approve", "reject", "abstain"],
                                     description="Vote")
        self.vote_button = widgets.Button(description="Cast vote")
        self.recommendation = widgets.Dropdown(options=["approve", "reject"],
                                               description="Recommend")
        self.confirm = widgets.HBox()
        self.confirm.add_class("genomlab-confirm")
        self.actions = widgets.HBox()
        self.message = widgets.HTML()
        self.message.add_class("genomlab-message")
        for control in (self.status, self.purpose, self.mine):
            control.observe(self._filters_changed, names="value")
        self.search.observe(self._filters_changed, names="value")
        self.prev.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(+1))
        self.reload.on_click(lambda _: self.refresh_queue())
        self.chooser.observe(lambda _: self._show_detail(), names="value")
        self.vote_button.on_click(lambda _: self._run("vote"))
        self.action_box = widgets.VBox()
        self.widget = widgets.VBox([
            self.header, widgets.HBox([self.status, self.purpose, self.mine]),
            widgets.HBox([self.search, self.prev, self.next, self.reload, self.page_label]),
            self.queue,
            self.chooser, self.detail, self.action_box, self.message])
        self.widget.add_class("genomlab-approvals")
        self.refresh_queue()

    def _filters_changed(self, _change: Any) -> None:
        self.offset = 0
        self.refresh_queue()

    def _turn(self, step: int) -> None:
        self.offset = max(0, self.offset + step * self.page_size)
        self.refresh_queue()

    def refresh_queue(self) -> None:
        """Re-read the current page of the queue."""
        staff = may_see_queue(self.roles)
        page = self.reads.get_queue_page(
            statuses=STATUS_FILTERS[self.status.value],
            purpose=self.purpose.value or None, handler=self.user if self.mine.value else None,
            applicant=None if staff else self.user, search=self.search.value or None,
            offset=self.offset, limit=self.page_size)
        if page.total and self.offset >= page.total:
            self.offset = max(0, (page.total - 1) // self.page_size * self.page_size)
            return self.refresh_queue()
        self.queue.value = queue_table_html(page)
        last = min(self.offset + self.page_size, page.total)
        first = self.offset + 1 if page.total else 0
        self.page_label.value = (f"<span class='genomlab-page'>{first}–{last} of {page.total}"
                                 f"</span> <small>as of {clock.now():%H:%M:%S} UTC</small>")
        self.prev.disabled = self.offset == 0
        self.next.disabled = last >= page.total
        current = self.chooser.value
        options = [("— choose an application —", "")] + [
            (f"{r['application_id']} · {r['status']} · {r['title'][:70]}", r["application_id"])
            for r in page.rows]
        if current and current not in {v for _, v in options}:
            options.append((f"{current} (outside this page)", current))
        self.chooser.options = options
        self.chooser.value = current or ""
        return None

    def _show_detail(self) -> None:
        import ipywidgets as widgets

        application_id = self.chooser.value
        if not application_id:
            self.detail.value, self.action_box.children = "", ()
            return
        detail = self.reads.get_application_detail(application_id)
        self.detail.value = detail_html(detail, self.reads)
        allowed = self.reads.get_allowed_actions(self.user, detail, self.roles)
        buttons = []
        for action in allowed:
            if action == "vote":
                continue
            button = widgets.Button(description=ACTION_LABELS[action],
                                    button_style="danger" if action in ("reject", "revoke")
                                    else "primary" if action == "approve" else "")
            button.add_class(f"genomlab-action-{action}")
            button.on_click(lambda _, a=action: self._ask(a))
            buttons.append(button)
        rows: list[Any] = []
        if allowed:
            rows.append(widgets.HTML("<h3>Your decision</h3>"))
            rows.append(self.reason)
        if "approve" in allowed:
            rows.append(self.valid_until)
        if "request_decision" in allowed:
            rows.append(self.recommendation)
        if "vote" in allowed:
            rows.append(widgets.HBox([self.vote, self.vote_button]))
        if "approve" in allowed:
            rows += self._dataset_rows(detail)
        if buttons:
            rows.append(widgets.HBox(buttons))
        self.confirm.children = ()
        rows.append(self.confirm)
        if not allowed:
            rows.append(widgets.HTML("<i>No action available to you on this application.</i>"))
        self.action_box.children = rows

    def _dataset_rows(self, detail: ApplicationDetail) -> list[Any]:
        """Per requested dataset: approve or reject it (the reason field is the reason)."""
        import ipywidgets as widgets

        rows = []
        for verdict in detail.verdicts:
            if verdict.subject == "research-consent":
                continue
            label = widgets.HTML(f"<span>Dataset <b>{_e(verdict.subject)}</b> "
                                 f"({_e(verdict.verdict)}):</span>")
            buttons = []
            for decision in ("approve", "reject"):
                button = widgets.Button(description=f"{decision.title()} dataset",
                                        tooltip=f"{decision.title()} {verdict.subject}")
                button.add_class(f"genomlab-dataset-{decision}")
                button.on_click(lambda _, s=verdict.subject, d=decision:
                                self._run(f"dataset:{s}:{d}"))
                buttons.append(button)
            rows.append(widgets.HBox([label, *buttons]))
        return rows

    def _ask(self, action: str) -> None:
        """Run ``action``, after a confirmation for approve and revoke."""
        import ipywidgets as widgets

        if action not in CONFIRMED_ACTIONS:
            self._run(action)
            return
        label = ACTION_LABELS[action]
        question = widgets.HTML(f"<p class='genomlab-confirm-question'><b>{_e(label)} "
                                f"{_e(self.chooser.value)}?</b> This takes effect at once.</p>")
        yes = widgets.Button(description=f"Yes, {label.lower()}",
                             button_style="danger" if action == "revoke" else "primary")
        yes.add_class(f"genomlab-confirm-{action}")
        no = widgets.Button(description="Cancel")
        no.add_class("genomlab-confirm-cancel")
        yes.on_click(lambda _: self._run(action))
        no.on_click(lambda _: setattr(self.confirm, "children", ()))
        self.confirm.children = (question, yes, no)

    def _run(self, action: str) -> None:
        application_id = self.chooser.value
        reason = self.reason.value
        try:
            if self.session is not None:
                name, body = _as_person_action(action, reason, self.valid_until.value.strip(),
                                               self.vote.value, self.recommendation.value)
                self.session.act(name, application_id, body)
            else:
                self._run_in_process(action, application_id, reason)
        except (GenomlabError, ValueError) as exc:
            self.message.value = (f"<p class='genomlab-error' style='color:#b00020'>Refused: "
                                  f"{_e(exc)}</p>")
            return
        self._show_done(action, application_id)

    def _run_in_process(self, action: str, application_id: str, reason: str) -> None:
        """``action`` by the workflow in this process (the embedded default: one account holds
        the home and its signing keys)."""
        workflow = Workflow(self.config)
        if action.startswith("dataset:"):
            dataset_id, decision = action.removeprefix("dataset:").rsplit(":", 1)
            workflow.decide_dataset(self.user, application_id, dataset_id, decision, reason)
        elif action == "approve":
            until = self.valid_until.value.strip()
            workflow.approve(self.user, application_id,
                             valid_until=date.fromisoformat(until) if until else None,
                             note=reason, duo_override_reason=reason)  # kept if DUO blocks
        elif action == "vote":
            workflow.record_vote(self.user, application_id, self.vote.value, reason)
        elif action == "assign":
            workflow.assign_handler(self.user, application_id)
        elif action == "request_review":
            workflow.request_committee_review(self.user, application_id, reason)
        elif action == "request_decision":
            workflow.request_decision(self.user, application_id, self.recommendation.value,
                                      reason)
        elif action == "comment":
            workflow.comment_to_applicant(self.user, application_id, reason)
        elif action == "submit":
            workflow.submit(self.user, application_id)
        else:
            method = {"return": workflow.return_application, "reject": workflow.reject,
                      "close": workflow.close, "revoke": workflow.revoke}[action]
            method(self.user, application_id, reason)

    def _show_done(self, action: str, application_id: str) -> None:
        self.reason.value = ""
        status = self.reads.get_application_detail(application_id).row["status"]
        if action.startswith("dataset:"):
            dataset_id, decision = action.removeprefix("dataset:").rsplit(":", 1)
            label = f"{decision.title()} dataset {dataset_id}"
        else:
            label = ACTION_LABELS.get(action, action)
        self.refresh_queue()
        self._show_detail()
        self.message.value = (f"<p class='genomlab-ok' style='color:#1b7f3b'>{_e(label)}: "
                              f"{_e(application_id)} is now {_e(status)}</p>")


def approvals_view(config: GenomlabConfig, user: str | None = None,
                   page_size: int = DEFAULT_PAGE_SIZE,
                   credentials: str | Path | None = None) -> Any:
    """The approvals dashboard as one ipywidgets box, for ``user`` (an id the caller verified
    already) or else the verified person of ``credentials`` (see the module's description).

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.dashboards.first_screen import get_static_html
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> _ = run_applications_demo(config)
    >>> html = get_static_html(approvals_view(config, user="hanna"))
    >>> "Signed in as <b>hanna</b> (handler, output_checker)" in html
    True
    """
    if user is not None:
        return ApprovalsDashboard(config, user, page_size).widget
    session = open_person_session(config, None if credentials is None else Path(credentials))
    return ApprovalsDashboard(config, session.user_id, page_size, session).widget


def show_approvals(config: GenomlabConfig, user: str | None = None,
                   page_size: int = DEFAULT_PAGE_SIZE,
                   credentials: str | Path | None = None) -> None:
    """Display the approvals dashboard with a server-rendered first screen (the queue page as
    static HTML, replaced by the live widgets once they load).

    Examples
    --------
    Outside a notebook ``display`` prints what it shows: the snapshot, then the live box.

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> show_approvals(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}), user="eve")
    <IPython.core.display.HTML object>
    VBox(children=(HTML(value='<style>.genomlab-first-screen {display: none}</style>'), VBox(...
    """
    show_with_first_screen(approvals_view(config, user=user, page_size=page_size,
                                          credentials=credentials))
