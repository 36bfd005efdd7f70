"""The platform's status look-ups as another service calls them (scope ``status:read``).

:class:`PlatformStatusClient` is what the trust-centre service asks at every request it serves:
is the calling node approved *now*, by the decision its token names, and is its client active;
is the approval it is shown the platform's current one, still in force. A service that serves
people (airlock, data service) asks :meth:`PlatformStatusClient.get_person_status` through
:meth:`PlatformStatusClient.verify_person`: the person's token checked with the platform's
published key, then the person's standing at the platform now.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    OAuthClientSecret,
    ServiceEndpoint,
    ServiceUnavailable,
    get_service_endpoint,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.institution import Institution

STATUS_SCOPE = "status:read"
PUBLISHED_TOKEN_KEY = "platform.token-key.pub.pem"
"""The platform service's copy of its token key in ``<home>/services/`` (0644)."""


def get_published_token_key(config: GenomlabConfig) -> Path:
    """``<home>/services/platform.token-key.pub.pem``: where the platform service publishes its
    access-token public key (0644) for the services that check its tokens (in a separated
    deployment they cannot read the platform's own folder)."""
    return config.home / "services" / PUBLISHED_TOKEN_KEY


def load_platform_token_key(config: GenomlabConfig, *, trusted_by: Institution) -> Any:
    """The platform's public key for access tokens: the copy the platform service publishes in
    ``<home>/services/`` (all a separated service can read), else, in a home one account holds,
    ``platform/keys/oauth.pub.pem``. Every service that checks platform tokens (trust
    centre, nodes, data service, airlock) holds it through :func:`watch_platform_token_key`.

    The key must have the fingerprint anchored in ``trusted_by``'s own ledger
    (:mod:`genomlab.trusted_keys`); a swapped file raises
    :class:`~genomlab.trusted_keys.TrustedKeyMismatch` naming the file and both fingerprints,
    so the service does not start.
    """
    from genomlab.trusted_keys import load_trusted_key

    return load_trusted_key(_token_key_path(config), key="oauth", holder=trusted_by)


def _token_key_path(config: GenomlabConfig) -> Path:
    path = get_published_token_key(config)
    if not path.exists():
        path = Institution(config, "platform").directory / "keys" / "oauth.pub.pem"
    if not path.exists():
        raise NotFoundError(f"{path}: the platform's public token key is missing")
    return path


def watch_platform_token_key(config: GenomlabConfig, *, trusted_by: Institution) -> Any:
    """The platform's public token key as a running service holds it
    (:class:`~genomlab.trusted_keys.TrustedKeyFile` over the file
    :func:`load_platform_token_key` reads): checked the same way at start (a swapped file
    raises), then taken up again after a rotation anchored in ``trusted_by``'s ledger, without
    a restart; a file swapped without one is refused."""
    from genomlab.trusted_keys import TrustedKeyFile

    return TrustedKeyFile(_token_key_path(config), key="oauth", holder=trusted_by)


class PlatformStatusClient:
    """Node and approval status from the running platform service."""

    def __init__(self, config: GenomlabConfig, credentials: ClientCredentials) -> None:
        self.config = config
        self.tokens = BearerTokens(config, credentials, STATUS_SCOPE)

    def _get(self, path: str) -> dict[str, Any]:
        platform = get_service_endpoint(self.config, "platform")
        try:
            with platform.http() as http:
                answer = http.get(path, headers=self.tokens.headers())
                if answer.status_code == 401:  # e.g. the platform restarted: one fresh token
                    self.tokens.forget()
                    answer = http.get(path, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"platform: {exc}") from exc
        body: dict[str, Any] = raise_for_answer("platform", answer)
        return body

    def get_node_status(self, node_id: str) -> dict[str, Any]:
        """``{node_id, kind, status, approved_at, active_clients}``; NotFoundError if unknown."""
        return self._get(f"/api/nodes/{quote(node_id, safe='')}/status")

    def get_approval_status(self, application_id: str) -> dict[str, Any]:
        """``{application_id, project_id, status, approval_digest}``; NotFoundError if none."""
        return self._get(f"/api/approvals/{quote(application_id, safe='')}/status")

    def get_person_status(self, user_id: str) -> dict[str, Any]:
        """``{user_id, institution, active, withdrawn, roles, active_credentials}`` of a platform
        user now; NotFoundError if the platform does not know them."""
        return self._get(f"/api/people/{quote(user_id, safe='')}/status")

    def verify_person(self, token: str, *, audience: str, public_key: Any = None,
                      trusted_by: Institution | None = None) -> Any:
        """The :class:`~genomlab.platform.access_tokens.VerifiedPerson` behind a person's bearer
        ``token`` at the service of ``audience``: signature and claims with the platform's
        published key (``public_key``, else loaded and checked against the fingerprint anchored
        in ``trusted_by``'s ledger, default the data service's), then this person's standing
        asked from the platform now. Raises ``InvalidToken`` (answer 401) or
        ``ServiceUnavailable`` (503: never assume)."""
        from genomlab.platform.access_tokens import verify_person_token

        key = public_key if public_key is not None else load_platform_token_key(
            self.config, trusted_by=trusted_by or Institution(self.config, "data_service"))
        return verify_person_token(token, key, audience=audience, look_up=self.get_person_status)


PERSON_SCOPE = "person"


class PlatformPersonClient:
    """A person's calls to the running platform service, with tokens for their credentials.

    ``credentials`` is the person's credentials file's content
    (:class:`genomlab.platform.person_credentials.PersonCredentials`); who acts is the subject
    the platform puts into the token, which :meth:`whoami` reports.
    """

    def __init__(self, config: GenomlabConfig, credentials: OAuthClientSecret,
                 endpoint: Callable[[], ServiceEndpoint] | None = None) -> None:
        self.config = config
        self.tokens = BearerTokens(config, credentials, PERSON_SCOPE, endpoint)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The service's JSON answer; its refusal as the matching error (401 → InvalidCredentials,
        403 → PermissionDenied, 404, 409, 400)."""
        platform = self.tokens.endpoint()
        try:
            with platform.http() as http:
                answer = http.request(method, path, json=body, headers=self.tokens.headers())
                if answer.status_code == 401:  # e.g. the platform restarted: one fresh token
                    self.tokens.forget()
                    answer = http.request(method, path, json=body,
                                          headers=self.tokens.headers())
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"platform: {exc}") from exc
        return raise_for_answer("platform", answer)

    def whoami(self) -> dict[str, Any]:
        """``{user_id, client_id, roles, institution}``: the verified person of the token."""
        body: dict[str, Any] = self.request("GET", "/api/me")
        return body

    # What the approvals dashboard reads; the names of the in-process query functions
    # (genomlab.platform.applications.queries), answered for the token's subject only.

    def get_queue_page(self, *, statuses: tuple[str, ...] | None = None,
                       purpose: str | None = None, handler: str | None = None,
                       applicant: str | None = None, search: str | None = None,
                       offset: int = 0, limit: int | None = None) -> Any:
        """One :class:`~genomlab.platform.applications.queries.QueuePage`, as
        :func:`~genomlab.platform.applications.queries.get_queue_page` reads it (403 unless the
        caller reviews applications or asks for their own, ``applicant`` = themselves)."""
        from genomlab.platform.applications.queries import queue_page_from_json

        query = {"status": ",".join(str(s) for s in statuses or ()), "purpose": purpose,
                 "handler": handler, "applicant": applicant, "search": search,
                 "offset": offset, "limit": limit}
        given = {k: str(v) for k, v in query.items() if v not in (None, "")}
        return queue_page_from_json(self.request("GET", "/api/queue?" + urlencode(given)))

    def get_application_detail(self, application_id: str) -> Any:
        """The :class:`~genomlab.platform.applications.queries.ApplicationDetail` (403 unless
        the caller reviews applications or is on its team)."""
        from genomlab.platform.applications.queries import detail_from_json

        return detail_from_json(self.request("GET", _application_path(application_id)))

    def get_allowed_actions(self, application_id: str) -> list[str]:
        """The commands the caller could run on the application now (a hint for the UI)."""
        body = self.request("GET", _application_path(application_id, "actions"))
        return [str(a) for a in body["actions"]]

    def get_earlier_projects(self, application_id: str) -> list[dict[str, Any]]:
        """The applicant's other applications with their results."""
        body = self.request("GET", _application_path(application_id, "earlier-projects"))
        return list(body["projects"])

    def get_attachment(self, application_id: str, sha256: str) -> bytes:
        """A case-file document's bytes."""
        import base64

        body = self.request("GET", _application_path(application_id,
                                                     f"attachments/{quote(sha256, safe='')}"))
        return base64.b64decode(body["content_base64"])

    def get_member_projects(self, at: Any = None) -> list[dict[str, Any]]:
        """The caller's active entitlements (at ``at``, a datetime; default now) with their
        team and DUO codes, as :func:`~genomlab.platform.applications.queries.
        get_member_projects` reads them for the token's subject."""
        query = "" if at is None else "?" + urlencode({"at": at.isoformat()})
        body = self.request("GET", "/api/me/projects" + query)
        return list(body["projects"])

    def get_monitoring(self) -> dict[str, Any]:
        """The platform dashboard's frames by name, as
        :func:`~genomlab.platform.quarterly.compute_monitoring_frames` computes them (polars
        frames; 403 unless the caller is platform staff)."""
        from genomlab.ledger_health import frame_from_json

        body = self.request("GET", "/api/monitoring")
        return {name: frame_from_json(frame) for name, frame in body.items()}

    def get_user_roles(self) -> frozenset[Any]:
        """The caller's platform roles now."""
        from genomlab.platform.applications.models import Role

        return frozenset(Role(r) for r in self.whoami().get("roles", ())
                         if r in Role._value2member_map_)

    # The application workflow's commands: the names of
    # :class:`genomlab.platform.applications.workflow.Workflow`'s methods without their
    # ``actor``, which is the token's verified subject at the service (never a name sent here).
    # Refusals as :meth:`request` raises them: PermissionDenied (403: role, conflict of interest,
    # self-approval), ConflictError (409: wrong state), ValidationFailed (400: the field named).

    def act(self, name: str, target: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """Person action ``name`` (:data:`genomlab.platform.person_actions.ACTIONS`) on
        ``target`` (the application or user its path names) with ``body``; the answer."""
        from genomlab.platform.person_actions import ACTIONS

        action = ACTIONS[name]
        path = action.path
        if action.target is not None:
            path = path.replace("{" + action.target + "}", quote(target or "", safe=""))
        result: dict[str, Any] = self.request(action.method, path, body)
        return result

    def create_draft(self, form: Any) -> str:
        """A new draft application with ``form`` (an
        :class:`~genomlab.platform.applications.models.ApplicationForm` or its JSON); its id."""
        return str(self.act("apply.new", None, {"form": _form_json(form)})["application_id"])

    def edit(self, application_id: str, form: Any) -> None:
        """Replace the form of a draft or returned application."""
        self.act("apply.edit", application_id, {"form": _form_json(form)})

    def submit(self, application_id: str) -> str:
        """Submit the application; its project id."""
        return str(self.act("apply.submit", application_id, {})["project_id"])

    def close(self, application_id: str, reason: str) -> None:
        """Close (withdraw) the application."""
        self.act("apply.close", application_id, {"reason": reason})

    def add_result(self, application_id: str, *, kind: str, title: str, reference: str) -> None:
        """Record a result of the project (publication, report, dataset, software)."""
        self.act("apply.result", application_id,
                 {"kind": kind, "title": title, "reference": reference})

    def attach_document(self, application_id: str, kind: str, name: str,
                        content: bytes) -> str:
        """Attach a case-file document; its sha256."""
        import base64

        body = {"kind": kind, "name": name,
                "content_base64": base64.b64encode(content).decode()}
        return str(self.act("apply.attach", application_id, body)["sha256"])

    def attach_feasibility(self, application_id: str, query: str, nodes: dict[str, str],
                           total: str) -> None:
        """Attach a feasibility answer (node → count as text, total) to the application."""
        self.act("apply.attach-feasibility", application_id,
                 {"query": query, "nodes": nodes, "total": total})

    def assign_handler(self, application_id: str, handler: str | None = None) -> None:
        """Take the application into review (``handler``: another handler, else the caller)."""
        self.act("review.assign", application_id, {"handler": handler})

    def return_application(self, application_id: str, reason: str) -> None:
        """Return the application to its applicant."""
        self.act("review.return", application_id, {"reason": reason})

    def request_committee_review(self, application_id: str, note: str = "") -> None:
        """Ask the committee for its votes."""
        self.act("review.request-committee", application_id, {"note": note})

    def record_vote(self, application_id: str, vote: str, comment: str = "") -> None:
        """The caller's committee vote."""
        self.act("review.vote", application_id, {"vote": vote, "comment": comment})

    def comment_to_applicant(self, application_id: str, comment: str) -> None:
        """A comment the applicant sees."""
        self.act("review.comment", application_id, {"comment": comment})

    def request_decision(self, application_id: str, recommendation: str, note: str) -> None:
        """Hand the application to the deciders with the handler's recommendation."""
        self.act("review.request-decision", application_id,
                 {"recommendation": recommendation, "note": note})

    def decide_dataset(self, application_id: str, dataset_id: str, decision: str,
                       reason: str) -> None:
        """A data holder's decision on one dataset of the application."""
        self.act("review.decide-dataset", application_id,
                 {"dataset_id": dataset_id, "decision": decision, "reason": reason})

    def approve(self, application_id: str, *, valid_from: Any = None, valid_until: Any = None,
                note: str = "", duo_override_reason: str | None = None) -> dict[str, Any]:
        """Approve the application (dates: :class:`datetime.date` or ``None``). Unlike the
        in-process method, which returns the signed approval, the answer is its summary:
        ``{application_id, project_id, team, valid_from, valid_until, key_id, status, actor}``
        (the signed document is the platform's: ``GET /api/approvals/{id}/status`` names its
        digest)."""
        body: dict[str, Any] = {"note": note, "duo_override_reason": duo_override_reason,
                                "valid_from": valid_from.isoformat() if valid_from else None,
                                "valid_until": valid_until.isoformat() if valid_until else None}
        return self.act("review.approve", application_id, body)

    def reject(self, application_id: str, reason: str) -> None:
        """Reject the application."""
        self.act("review.reject", application_id, {"reason": reason})

    def revoke(self, application_id: str, reason: str) -> None:
        """Revoke the approval (the team's entitlements end at once)."""
        self.act("review.revoke", application_id, {"reason": reason})

    def tag_dataset(self, tags: Any) -> None:
        """Record a dataset's DUO tags (a
        :class:`~genomlab.platform.applications.models.DatasetTags` or its JSON)."""
        data = tags if isinstance(tags, dict) else tags.model_dump(mode="json")
        self.act("review.tag-dataset", None, {"tags": data})

    def register_user(self, user_id: str, *, institution: str, name: str = "") -> None:
        """Register a platform user (admins)."""
        self.act("users.add", None, {"user_id": user_id, "institution": institution,
                                     "name": name})

    def grant_role(self, user_id: str, role: Any) -> None:
        """Grant ``user_id`` a platform role (admins)."""
        self.act("users.grant", user_id, {"role": str(getattr(role, "value", role))})

    def withdraw_role(self, user_id: str, role: Any) -> None:
        """Withdraw a platform role (admins)."""
        self.act("users.withdraw", user_id, {"role": str(getattr(role, "value", role))})


def _form_json(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = form if isinstance(form, dict) else form.model_dump(mode="json")
    return data


def _application_path(application_id: str, tail: str = "") -> str:
    return f"/api/applications/{quote(application_id, safe='')}" + (f"/{tail}" if tail else "")


UPLOAD_SCOPE = "pruefbericht:upload"
UPLOAD_PATH = "/api/pruefbericht/upload"


class PruefberichtClient:
    """A node's Prüfbericht upload to the running platform service, as ``grzctl pruefbericht
    submit`` makes it: a client-credentials token (scope ``pruefbericht:upload``), then ``POST
    /api/pruefbericht/upload`` with the Prüfbericht JSON and ``Authorization: bearer``; one fresh
    token after a 401. :meth:`receive_pruefbericht` has the in-process function's name
    (:func:`genomlab.platform.confirmations.receive_pruefbericht`): it returns the signed
    Meldebestätigung the platform answers.

    The HTTPS connection is kept from one upload to the next (a node service's intake uploads
    one Prüfbericht per submission): a new TLS context and handshake per upload cost more than
    the platform's own work on it. The platform's service record is read at every upload, and
    a record naming another URL or CA (a restarted platform) gets a new connection; so does a
    kept connection that fails, once (an upload is idempotent: the same Prüfbericht gets the
    same Meldebestätigung). :meth:`close` (or ``with``) ends it.
    """

    def __init__(self, config: GenomlabConfig, credentials: ClientCredentials) -> None:
        self.config = config
        self.credentials = credentials
        self.tokens = BearerTokens(config, credentials, UPLOAD_SCOPE)
        self._lock = threading.Lock()
        self._endpoint: ServiceEndpoint | None = None
        self._http: httpx.Client | None = None

    def __enter__(self) -> PruefberichtClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept connection (the next upload opens a new one)."""
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._http, self._endpoint = None, None

    def _connection(self, fresh: bool = False) -> tuple[httpx.Client, bool]:
        """The HTTPS client of the platform's current endpoint and whether it was kept."""
        platform = get_service_endpoint(self.config, "platform")
        with self._lock:
            kept = self._http is not None and platform == self._endpoint and not fresh
            if not kept:
                if self._http is not None:
                    self._http.close()
                self._http, self._endpoint = platform.http(), platform
            assert self._http is not None
            return self._http, kept

    def _post(self, http: httpx.Client, pruefbericht: dict[str, Any]) -> httpx.Response:
        answer = http.post(UPLOAD_PATH, json=pruefbericht, headers=self.tokens.headers())
        if answer.status_code == 401:  # e.g. a token from before a restart: one fresh
            self.tokens.forget()
            answer = http.post(UPLOAD_PATH, json=pruefbericht, headers=self.tokens.headers())
        return answer

    def receive_pruefbericht(self, pruefbericht: dict[str, Any]) -> Any:
        """The platform's signed Meldebestätigung
        (:class:`~genomlab.messages.SignedDocument`) for ``pruefbericht``; the platform's
        refusal as the matching error (400, 401, 403, 409; unreachable: ServiceUnavailable)."""
        from genomlab.messages import SignedDocument
        from genomlab.platform.confirmations import CONFIRMATION_KIND

        http, kept = self._connection()
        try:
            try:
                answer = self._post(http, pruefbericht)
            except httpx.TransportError:
                if not kept:
                    raise
                http, _ = self._connection(fresh=True)  # the kept one broke: once, anew
                answer = self._post(http, pruefbericht)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"platform: {exc}") from exc
        body = raise_for_answer("platform", answer)
        try:
            document = SignedDocument.model_validate(body)
        except ValueError as exc:
            raise ServiceUnavailable(f"platform: the answer is no signed document: {exc}") from exc
        if document.kind != CONFIRMATION_KIND:
            raise ServiceUnavailable(f"platform: answered a {document.kind!r} document, not a "
                                     "Meldebestätigung")
        return document
