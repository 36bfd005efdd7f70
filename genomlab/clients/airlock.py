"""The airlock as people call it: release requests, reviews and releases over HTTPS.

:class:`AirlockClient` has the in-process functions' names (:mod:`genomlab.airlock.requests`):
``submit_request``, ``record_review``, ``record_file_review``, ``release_request``,
``get_request_detail``, ``get_queue`` (and ``get_snapshot_content``: a checked file's
bytes). Who acts is the person the tokens speak for; the service never reads a
name from the caller.

Examples
--------
>>> alice = AirlockClient(config, alice_tokens)  # doctest: +SKIP
>>> request_id = alice.submit_request("GDE-2026-0001", ["by_sex.csv"])  # doctest: +SKIP
>>> hanna = AirlockClient(config, hanna_tokens)  # doctest: +SKIP
>>> hanna.record_review(request_id, "approve", "≥ 10")  # doctest: +SKIP
'partially_reviewed'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from genomlab.clients.data_service import TokenSource, post_with_token
from genomlab.clients.oauth import ServiceUnavailable, get_service_endpoint, raise_for_answer
from genomlab.config import GenomlabConfig

SERVICE = "airlock"
REQUESTS_PATH = "/api/requests"


def _request_path(request_id: str, action: str = "") -> str:
    return f"{REQUESTS_PATH}/{quote(request_id, safe='')}" + (f"/{action}" if action else "")


class AirlockClient:
    """Calls to the running airlock service as the person ``tokens`` speak for."""

    def __init__(self, config: GenomlabConfig, tokens: TokenSource) -> None:
        self.config = config
        self.tokens = tokens

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = post_with_token(self.config, SERVICE, self.tokens, path, body)
        return answer

    def submit_request(self, project: str, names: Sequence[str], *, justification: str = "") -> str:
        """Ask to release output files of ``project``; the request id."""
        answer = self._post(
            REQUESTS_PATH,
            {"project": project, "files": list(names), "justification": justification},
        )
        return str(answer["request_id"])

    def record_review(self, request_id: str, decision: str, reason: str) -> str:
        """Decide every file not yet decided by this checker; the request's new status."""
        answer = self._post(
            _request_path(request_id, "reviews"), {"decision": decision, "reason": reason}
        )
        return str(answer["status"])

    def record_file_review(self, request_id: str, name: str, decision: str, reason: str) -> str:
        """Decide one file; the request's new status."""
        answer = self._post(
            _request_path(request_id, "reviews"),
            {"decision": decision, "reason": reason, "file": name},
        )
        return str(answer["status"])

    def release_request(self, request_id: str) -> list[dict[str, str]]:
        """Copy out an approved request again (idempotent); the files copied."""
        answer = self._post(_request_path(request_id, "release"), {})
        return list(answer["files"])

    def _get(self, path: str) -> Any:
        service = get_service_endpoint(self.config, SERVICE)
        try:
            with service.http() as http:
                answer = http.get(path, headers=self.tokens.headers())
                if answer.status_code == 401:  # e.g. a token from before a restart: one fresh
                    self.tokens.forget()
                    answer = http.get(path, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"{SERVICE}: {exc}") from exc
        return raise_for_answer(SERVICE, answer)

    def get_request_detail(self, request_id: str) -> dict[str, Any]:
        """The request, its files with their decisions, its reviews (author, team, checkers),
        and ``caller`` (``output_checker``, ``on_team``); as a
        :class:`~genomlab.airlock.requests.RequestDetail`:
        :func:`~genomlab.airlock.requests.request_detail_from_json`."""
        body: dict[str, Any] = self._get(_request_path(request_id))
        return body

    def get_queue(self, *, statuses: Sequence[str] | None = None,
                  project: str | None = None) -> list[dict[str, Any]]:
        """Requests, oldest first, with their review count, as
        :func:`genomlab.airlock.requests.get_queue` reads them (every project's for an output
        checker; else only ``project``'s, a team the caller is on: else PermissionDenied)."""
        query = {"status": ",".join(statuses or ()), "project": project or ""}
        given = {k: v for k, v in query.items() if v}
        body = self._get(REQUESTS_PATH + ("?" + urlencode(given) if given else ""))
        return list(body["requests"])

    def get_snapshot_content(self, request_id: str, name: str) -> bytes:
        """A request's file as checked (its snapshot)."""
        import base64

        body = self._get(_request_path(request_id, "files/" + quote(name, safe="")))
        return base64.b64decode(body["content_base64"])
