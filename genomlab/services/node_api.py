"""A genome data centre (GRZ) or a clinical data node (KDK) as an HTTP service, one per node.

``genomlab serve grz --node GRZ…`` / ``genomlab serve kdk --node KDK…``: only this process opens
the node's store and keys. It reaches the other institutions over HTTPS with the node's own
OAuth client (``<node dir>/platform-client.json``, 0600, from ``genomlab platform nodes
issue-client NODE --save``): pseudonyms from the trust-centre service
(:class:`~genomlab.clients.trust_center.TrustCenterClient`), the Prüfbericht to the platform
service (:class:`~genomlab.clients.platform.PruefberichtClient`, as ``grzctl pruefbericht
submit`` uploads it), and its own approval from the platform's status look-up before intake.

- ``POST /api/intake/run``: take in what is in the node's inbox (:func:`genomlab.intake.
  run_inbox_intake`), file each Meldebestätigung for its LE, archive what was delivered. The
  **node's operator** starts it: ``Authorization: Bearer <operator secret>``, the secret in
  ``<node dir>/operator-credential.json`` (0600, made at the service's first start). Whoever can
  read the node's folder operates the node (its OS account in a separated deployment), as the
  platform's operator commands take access to the platform's folder as the operator's
  credential. A machine token (any platform-issued token) is no operator credential.
- ``GET /api/datasets/attributes``: the node's consented datasets' attributes (the read contract
  of :mod:`genomlab.data_service.nodes`: pseudonym, disease and library type; a KDK's sex, birth
  month, ICD-10-GM and HPO); scope ``datasets:attributes``, callers the trust centre and the
  data service.
- ``POST /api/datasets/fields`` ``{pseudonyms, fields}`` (KDK): the fields of a release; scope
  ``datasets:read``, the data service only.
- ``GET /healthz``.

Callers of the read API present a platform token for audience ``urn:genomlab:node``; the node
checks it with the platform's published key and asks the platform (its own client, scope
``status:read``) whether the caller's node is approved now by the decision the token names
(:class:`genomlab.services.trust_center_api.CallerCheck`). 401 for a missing, invalid or no
longer backed token; 403 for a missing scope or a caller of another kind; 503 if the platform
cannot be asked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genomlab.clients.nodes import (
    ATTRIBUTES_PATH,
    ATTRIBUTES_SCOPE,
    FIELDS_PATH,
    INTAKE_PATH,
    INTAKE_RECORDS_PATH,
    READ_SCOPE,
    check_operator_secret,
    ensure_operator_credential,
)
from genomlab.clients.oauth import (
    ClientCredentials,
    ServiceUnavailable,
    get_credentials_path,
    load_client_credentials,
)
from genomlab.clients.platform import (
    PlatformStatusClient,
    PruefberichtClient,
    watch_platform_token_key,
)
from genomlab.clients.trust_center import PSEUDONYM_SCOPE, TrustCenterClient
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.institution import Institution
from genomlab.platform.access_tokens import NODE_AUDIENCE
from genomlab.services.oauth_http import OAuthError, bearer_error, get_bearer_token
from genomlab.services.trust_center_api import (
    NO_STORE,
    CallerCheck,
    _error_response,
    _oauth_response,
)

NodeKind = Literal["grz", "kdk"]
IntakeRun = Callable[[Any], dict[str, Any]]
"""One intake run of the node's inbox for the operator's request body (``None``: none was
sent); returns a JSON-ready summary. A GRZ whose operator set grzctl up runs that pipeline
(:func:`genomlab.intake.official.run_grzctl_for_operator`); ``create_node_app(...,
intake=...)`` may swap it."""
ATTRIBUTE_READERS = ("trust_center", "data_service")
"""Node kinds whose clients may read dataset attributes (the trust centre's cohort selection,
the data service)."""


def make_node_intake(
    config: GenomlabConfig,
    kind: NodeKind,
    node_id: str,
    credentials: ClientCredentials,
    platform: PlatformStatusClient,
) -> IntakeRun:
    """The default intake run: a GRZ set up on BfArM's grzctl runs that pipeline over the
    request's ``submission_ids`` (:func:`genomlab.intake.official.run_grzctl_for_operator`:
    grzctl submits the Prüfberichte with the GRZ's client); otherwise
    :func:`genomlab.intake.run_inbox_intake`. The trust-centre and platform services are the
    node's links, each called with the node's own client; Hail starts in this process at the
    first genotypes it stores."""
    from genomlab.intake import _hail_starter, make_platform_reporter, run_inbox_intake
    from genomlab.intake.official import run_grzctl_for_operator

    pseudonyms = TrustCenterClient(config, credentials, scope=PSEUDONYM_SCOPE)
    uploads = PruefberichtClient(config, credentials)
    reporter = make_platform_reporter(config, node_id, receive=uploads.receive_pruefbericht)

    def run(body: Any) -> dict[str, Any]:
        if kind == "grz":
            ran = run_grzctl_for_operator(config, node_id, body, pseudonyms=pseudonyms,
                                          hail=_hail_starter(config))
            if ran is not None:
                return ran
        return run_inbox_intake(
            config, kind, node_id, pseudonyms=pseudonyms, reporter=reporter, node_status=platform
        )

    return run


def _dataset_reader(config: GenomlabConfig, kind: NodeKind, node_id: str) -> Any:
    from genomlab.data_service.adapters import ClinicalNodeReader, GenomeCenterReader

    if kind == "grz":
        return GenomeCenterReader(config, node_id)
    return ClinicalNodeReader(config, node_id)


def _texts(body: Any, name: str) -> list[str]:
    values = body.get(name) if isinstance(body, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValidationFailed(f"request: field {name}: expected a list of texts")
    return values


def create_node_app(
    config: GenomlabConfig,
    kind: NodeKind,
    node_id: str,
    *,
    platform: PlatformStatusClient | None = None,
    intake: IntakeRun | None = None,
) -> FastAPI:
    """The ASGI app of node ``node_id`` (``kind`` grz or kdk) over its store and keys.

    ``platform`` defaults to the node's own platform client, ``intake`` to
    :func:`make_node_intake`. Raises NotFoundError when the node has no client credentials.
    """
    if kind not in ("grz", "kdk"):
        raise ValidationFailed(f"serve: field KIND: {kind!r} is no node kind")
    institution = Institution(config, kind, node_id)
    credentials = load_client_credentials(get_credentials_path(institution.directory))
    if credentials.node_id != node_id:
        raise ValidationFailed(
            f"{get_credentials_path(institution.directory)}: field node_id: "
            f"{credentials.node_id} is not {node_id}"
        )
    if platform is None:
        platform = PlatformStatusClient(config, credentials)
    operator = hashlib.sha256(ensure_operator_credential(institution.directory).encode()).digest()
    reader = _dataset_reader(config, kind, node_id)  # opens (and migrates) the node's store
    run_intake = intake or make_node_intake(config, kind, node_id, credentials, platform)
    callers = CallerCheck(
        watch_platform_token_key(config, trusted_by=institution),
        platform,
        audience=NODE_AUDIENCE,
        service=f"{kind.upper()} {node_id}",
    )
    app = FastAPI(
        title=f"genomlab {kind.upper()} {node_id}", docs_url=None, redoc_url=None, openapi_url=None
    )

    def as_operator(authorization: str | None, act: Callable[[], dict[str, Any]]) -> JSONResponse:
        try:
            presented = get_bearer_token(authorization)
            if not check_operator_secret(presented, operator):
                raise bearer_error(
                    401, "invalid_token", f"not the operator credential of {kind.upper()} {node_id}"
                )
        except OAuthError as error:
            return _oauth_response(error)
        try:
            return JSONResponse(act(), headers=NO_STORE)
        except GenomlabError as exc:
            return _error_response(exc)

    def intake_records() -> dict[str, Any]:
        if kind != "grz":
            raise NotFoundError(f"KDK {node_id}: no grzctl records (a KDK has no grzctl)")
        from genomlab.intake.official import get_grzctl_records_for_operator

        return get_grzctl_records_for_operator(config, node_id)

    def serve(
        authorization: str | None,
        scope: str,
        kinds: tuple[str, ...],
        act: Callable[[], dict[str, Any]],
    ) -> JSONResponse:
        try:
            claims = callers.verify(authorization, scope)
        except OAuthError as error:
            return _oauth_response(error)
        except ServiceUnavailable as exc:
            return _error_response(exc)
        try:
            if claims["node_kind"] not in kinds:
                raise PermissionDenied(
                    f"{kind.upper()} {node_id}: node {claims['node_id']} "
                    f"({claims['node_kind']}) may not read this"
                )
            return JSONResponse(act(), headers=NO_STORE)
        except GenomlabError as exc:
            return _error_response(exc)

    def attributes() -> dict[str, Any]:
        return {"node_id": node_id, "datasets": reader.get_dataset_attributes().to_dicts()}

    def fields(body: Any) -> dict[str, Any]:
        if kind != "kdk":
            raise NotFoundError(
                f"GRZ {node_id}: no fields to read (a GRZ releases genotypes, not fields)"
            )
        frame = reader.read_fields(_texts(body, "pseudonyms"), _texts(body, "fields"))
        return {"node_id": node_id, "datasets": frame.to_dicts()}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": institution.name}

    @app.post(INTAKE_PATH)
    async def intake_route(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"submission_ids": "not JSON"}  # refused after the operator check
        response: JSONResponse = await run_in_threadpool(
            as_operator, request.headers.get("authorization"), lambda: run_intake(body)
        )
        return response

    @app.get(INTAKE_RECORDS_PATH)
    async def intake_records_route(request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            as_operator, request.headers.get("authorization"), intake_records
        )
        return response

    @app.get(ATTRIBUTES_PATH)
    async def attributes_route(request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            serve,
            request.headers.get("authorization"),
            ATTRIBUTES_SCOPE,
            ATTRIBUTE_READERS,
            attributes,
        )
        return response

    @app.post(FIELDS_PATH)
    async def fields_route(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None  # refused after the token check, so a stranger learns nothing
        response: JSONResponse = await run_in_threadpool(
            serve,
            request.headers.get("authorization"),
            READ_SCOPE,
            ("data_service",),
            lambda: fields(body),
        )
        return response

    return app
