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
- ``GET /api/datasets/site-counts`` (GRZ): carriers per allele over the consented datasets
  (:data:`~genomlab.data_service.nodes.SITE_COLUMNS`: the feasibility index's input); scope
  ``datasets:attributes``, callers the trust centre and the data service.
- ``POST /api/datasets/fields`` ``{pseudonyms, fields}`` (KDK): the fields of a release; scope
  ``datasets:read``, the data service only.
- ``POST /api/datasets/genotypes`` ``{pseudonyms}`` (GRZ): the consented store restricted to
  those datasets at the node (:meth:`~genomlab.data_service.adapters.GenomeCenterReader.
  export_cohort_genotypes`: pseudonyms the store does not hold, or no longer consented, are
  left out as in-process), written as ``genotypes.mt`` into a folder of the GRZ's own
  (``<node dir>/tmp/genotypes-<host>-<pid>-<random>``, 0700), answered as an uncompressed tar
  (``application/x-tar``; the MatrixTable's parts are compressed already) with its SHA-256 in
  ``Repr-Digest`` (RFC 9530, ``sha-256=:<base64>:``) and its ``Content-Length``. The folder is
  removed before the first byte is sent (the open tar is streamed), also on errors; a killed
  service's folder is swept at the next request or start. Scope ``datasets:read``, the data
  service only.
- ``GET /healthz``.

Hail starts in a GRZ's service on its first genotype, site-count or intake request that needs
it, once per process (:func:`genomlab.hail_session.init_hail` holds a lock: concurrent requests
do not start two), with the service's configuration; Hail's work (an intake run, site
counts, an export) runs one at a time (Hail is not thread-safe), so a genotype request waits
for a running intake.

Callers of the read API present a platform token for audience ``urn:genomlab:node``; the node
checks it with the platform's published key and asks the platform (its own client, scope
``status:read``) whether the caller's node is approved now by the decision the token names
(:class:`genomlab.services.trust_center_api.CallerCheck`). 401 for a missing, invalid or no
longer backed token; 403 for a missing scope or a caller of another kind; 503 if the platform
cannot be asked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import threading
from collections.abc import Buffer, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from genomlab.clients.nodes import (
    ATTRIBUTES_PATH,
    ATTRIBUTES_SCOPE,
    DIGEST_HEADER,
    FIELDS_PATH,
    GENOTYPES_MT,
    GENOTYPES_PATH,
    GENOTYPES_TMP_PREFIX,
    INTAKE_PATH,
    INTAKE_RECORDS_PATH,
    READ_SCOPE,
    SITE_COUNTS_PATH,
    check_operator_secret,
    ensure_operator_credential,
    format_sha256_digest,
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
from genomlab.hail_session import HailModule
from genomlab.institution import Institution
from genomlab.leftovers import make_owned_dir, sweep_leftovers
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
CHUNK_BYTES = 1 << 20


def pack_genotypes(mt: Any, parent: Path) -> tuple[BinaryIO, bytes, int]:
    """``mt`` written as ``genotypes.mt`` into a fresh owner-only folder under ``parent`` and
    packed into an uncompressed tar there; the open tar, its SHA-256 and its size.

    The folder is removed before this returns, also on errors (the open file stays readable
    until closed); a killed process's folder is swept by the next call
    (:func:`genomlab.leftovers.make_owned_dir`).
    """
    folder = make_owned_dir(parent, GENOTYPES_TMP_PREFIX)
    try:
        mt.write(str(folder / GENOTYPES_MT))
        tar_path = folder / "genotypes.tar"
        fd = os.open(tar_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            hashed = _HashingWriter(out)  # the digest as the tar is written: no second read
            with tarfile.open(fileobj=hashed, mode="w|") as tar:
                tar.add(folder / GENOTYPES_MT, arcname=GENOTYPES_MT, filter=_plain_member)
        stream = tar_path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return stream, hashed.digest.digest(), hashed.size


class _HashingWriter(io.RawIOBase):
    """A write-only binary file that passes writes on to ``out`` and keeps their SHA-256 and
    size (closing it leaves ``out`` open)."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        self.digest.update(data)
        self.size += memoryview(data).nbytes
        return self.out.write(data)


def _plain_member(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """A tar entry without the GRZ's account names and ids."""
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def _stream_file(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
    finally:
        stream.close()


def make_node_intake(
    config: GenomlabConfig,
    kind: NodeKind,
    node_id: str,
    credentials: ClientCredentials,
    platform: PlatformStatusClient,
    hail: Callable[[], HailModule],
) -> IntakeRun:
    """The default intake run: a GRZ set up on BfArM's grzctl runs that pipeline over the
    request's ``submission_ids`` (:func:`genomlab.intake.official.run_grzctl_for_operator`:
    grzctl submits the Prüfberichte with the GRZ's client); otherwise
    :func:`genomlab.intake.run_inbox_intake`. The trust-centre and platform services are the
    node's links, each called with the node's own client; ``hail`` starts Hail in this process
    at the first genotypes it stores."""
    from genomlab.intake import make_platform_reporter, run_inbox_intake
    from genomlab.intake.official import run_grzctl_for_operator

    pseudonyms = TrustCenterClient(config, credentials, scope=PSEUDONYM_SCOPE)
    uploads = PruefberichtClient(config, credentials)
    reporter = make_platform_reporter(config, node_id, receive=uploads.receive_pruefbericht)

    def run(body: Any) -> dict[str, Any]:
        if kind == "grz":
            ran = run_grzctl_for_operator(config, node_id, body, pseudonyms=pseudonyms,
                                          hail=hail)
            if ran is not None:
                return ran
        return run_inbox_intake(
            config,
            kind,
            node_id,
            pseudonyms=pseudonyms,
            reporter=reporter,
            node_status=platform,
            hail=hail,
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
    from genomlab.intake import _hail_starter

    hail = _hail_starter(config)  # once per process, thread-safe (init_hail)
    reader = _dataset_reader(config, kind, node_id)  # opens (and migrates) the node's store
    run_intake = intake or make_node_intake(config, kind, node_id, credentials, platform, hail)
    scratch = institution.directory / "tmp"
    hail_work = threading.Lock()  # Hail runs one job at a time: intake, site counts, exports
    sweep_leftovers(scratch, GENOTYPES_TMP_PREFIX)  # what a killed run of this service left
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

    def locked_intake(body: Any) -> dict[str, Any]:
        with hail_work:
            return run_intake(body)

    def intake_records() -> dict[str, Any]:
        if kind != "grz":
            raise NotFoundError(f"KDK {node_id}: no grzctl records (a KDK has no grzctl)")
        from genomlab.intake.official import get_grzctl_records_for_operator

        return get_grzctl_records_for_operator(config, node_id)

    def serve(
        authorization: str | None,
        scope: str,
        kinds: tuple[str, ...],
        act: Callable[[], dict[str, Any] | Response],
    ) -> Response:
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
            answer = act()
        except GenomlabError as exc:
            return _error_response(exc)
        return answer if isinstance(answer, Response) else JSONResponse(answer, headers=NO_STORE)

    def attributes() -> dict[str, Any]:
        return {"node_id": node_id, "datasets": reader.get_dataset_attributes().to_dicts()}

    def fields(body: Any) -> dict[str, Any]:
        if kind != "kdk":
            raise NotFoundError(
                f"GRZ {node_id}: no fields to read (a GRZ releases genotypes, not fields)"
            )
        frame = reader.read_fields(_texts(body, "pseudonyms"), _texts(body, "fields"))
        return {"node_id": node_id, "datasets": frame.to_dicts()}

    def site_counts() -> dict[str, Any]:
        if kind != "grz":
            raise NotFoundError(f"KDK {node_id}: no site counts (a KDK holds no genotypes)")
        with hail_work:
            sites = reader.get_site_counts()
        return {"node_id": node_id, "sites": sites.to_dicts()}

    def genotypes(body: Any) -> Response:
        if kind != "grz":
            raise NotFoundError(f"KDK {node_id}: no genotypes to read (a KDK releases fields)")
        pseudonyms = _texts(body, "pseudonyms")
        with hail_work:
            mt = reader.export_cohort_genotypes(hail(), pseudonyms)
            stream, digest, size = pack_genotypes(mt, scratch)
        headers = {
            **NO_STORE,
            DIGEST_HEADER: format_sha256_digest(digest),
            "Content-Length": str(size),
        }
        return StreamingResponse(
            _stream_file(stream), media_type="application/x-tar", headers=headers
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": institution.name}

    @app.post(INTAKE_PATH)
    async def intake_route(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "not JSON"  # no object: a grzctl GRZ refuses it after the operator check
        response: JSONResponse = await run_in_threadpool(
            as_operator, request.headers.get("authorization"), lambda: locked_intake(body)
        )
        return response

    @app.get(INTAKE_RECORDS_PATH)
    async def intake_records_route(request: Request) -> JSONResponse:
        response: JSONResponse = await run_in_threadpool(
            as_operator, request.headers.get("authorization"), intake_records
        )
        return response

    async def read_route(request: Request, scope: str, kinds: tuple[str, ...],
                         act: Callable[[], dict[str, Any] | Response]) -> Response:
        """A read checked by :func:`serve` in a worker thread."""
        response: Response = await run_in_threadpool(
            serve, request.headers.get("authorization"), scope, kinds, act
        )
        return response

    async def release_route(request: Request,
                            act: Callable[[Any], dict[str, Any] | Response]) -> Response:
        """A read of a release's data (scope ``datasets:read``, the data service only)."""
        try:
            body = await request.json()
        except ValueError:
            body = None  # refused after the token check, so a stranger learns nothing
        return await read_route(request, READ_SCOPE, ("data_service",), lambda: act(body))

    @app.get(ATTRIBUTES_PATH)
    async def attributes_route(request: Request) -> Response:
        return await read_route(request, ATTRIBUTES_SCOPE, ATTRIBUTE_READERS, attributes)

    @app.get(SITE_COUNTS_PATH)
    async def site_counts_route(request: Request) -> Response:
        return await read_route(request, ATTRIBUTES_SCOPE, ATTRIBUTE_READERS, site_counts)

    @app.post(FIELDS_PATH)
    async def fields_route(request: Request) -> Response:
        return await release_route(request, fields)

    @app.post(GENOTYPES_PATH)
    async def genotypes_route(request: Request) -> Response:
        return await release_route(request, genotypes)

    return app
