"""htsget (GA4GH htsget 1.3, variants): released VCFs by region, for visa holders (data service).

- ``GET /htsget/variants/{project_id}?format=VCF&referenceName=…&start=…&end=…``: the ticket,
  ``{"htsget": {"format": "VCF", "urls": [{"url": …/htsget/data/{project_id}?…, "headers":
  {"Authorization": "Bearer <visa>"}}]}}``. ``start`` is 0-based inclusive, ``end`` 0-based
  exclusive (as the spec and the PyPI ``htsget`` client say).
- ``GET /htsget/data/{project_id}?…``: the VCF text of the region: the release VCF's header
  and every record overlapping it (what ``bcftools view -r chr:start+1-end`` selects:
  ``POS <= end`` and ``POS + len(REF) - 1 >= start + 1``).

Both need ``Authorization: Bearer <visa>``: a GA4GH ``ControlledAccessGrants`` visa for the
project's release (``urn:genomlab:project:<project>``) that
:func:`genomlab.platform.visas.verify_visa` accepts now (signature against the platform's
JWKS, expiry, dataset, the approval still approved at the platform). Refusals are htsget
errors: 401 ``InvalidAuthentication`` (no, forged, expired or revoked visa), 403
``PermissionDenied`` (a visa for another dataset), 404 ``NotFound``, 400 ``InvalidInput`` /
``UnsupportedFormat``.

The release VCF (``genotypes.vcf.bgz`` inside ``release.tar.c4gh``) is decrypted in memory with
the data service's own Crypt4GH key (a second recipient of the release); no plaintext is
written.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from genomlab.clients.oauth import ServiceUnavailable
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.platform.visas import ApprovalLookUp, project_dataset
from genomlab.services.visa_check import InvalidVisa, KeyResolver, VisaCheck, WrongDataset
from genomlab.workspace.crypt4gh_release import data_service_release_key, read_encrypted_member

VCF_NAME = "genotypes.vcf.bgz"
TICKET_TYPE = "application/vnd.ga4gh.htsget.v1.3.0+json; charset=utf-8"
VCF_TYPE = "text/vcf"
CACHED_RELEASES = 4


class HtsgetError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"htsget": {"error": self.error, "message": self.message}},
            status_code=self.status,
            media_type=TICKET_TYPE,
        )


def read_release_vcf(config: GenomlabConfig, project_id: str) -> bytes:
    """The release's VCF (bgzipped), read in memory with the data service's Crypt4GH key."""
    release = config.workspace_dir(project_id) / "release"
    manifest_path = release / "manifest.json"
    if not manifest_path.exists():
        raise NotFoundError(f"project {project_id}: nothing released")
    manifest = json.loads(manifest_path.read_text())
    if "encryption" not in manifest:
        plain = release / VCF_NAME
        if not plain.exists():
            raise NotFoundError(f"project {project_id}: the release has no {VCF_NAME}")
        return plain.read_bytes()
    secret, _ = data_service_release_key(config)
    return read_encrypted_member(release / str(manifest["encryption"]["file"]), secret, VCF_NAME)


def check_release_vcf(config: GenomlabConfig, project_id: str) -> None:
    """NotFoundError unless the project's release holds the VCF (the manifest says so; nothing
    is decrypted)."""
    manifest_path = config.workspace_dir(project_id) / "release" / "manifest.json"
    if not manifest_path.exists():
        raise NotFoundError(f"project {project_id}: nothing released")
    manifest = json.loads(manifest_path.read_text())
    entries = manifest.get("encryption", {}).get("entries")
    present = (
        VCF_NAME in entries if entries is not None else (manifest_path.parent / VCF_NAME).exists()
    )
    if not present:
        raise NotFoundError(f"project {project_id}: the release has no {VCF_NAME}")


def select_region(
    vcf_gz: bytes, reference: str | None, start: int | None, end: int | None
) -> bytes:
    """Header and the records overlapping ``reference:[start, end)`` (0-based) as VCF text.

    The release VCF is sorted (Hail exports it sorted and tabix-indexes it), so the scan stops
    at the first record of ``reference`` past ``end``.
    """
    return select_region_text(gzip.decompress(vcf_gz), reference, start, end)


def select_region_text(
    text: bytes, reference: str | None, start: int | None, end: int | None
) -> bytes:
    """:func:`select_region` of the decompressed VCF text."""
    if reference is None:
        return text
    out: list[bytes] = []
    prefix = reference.encode() + b"\t"
    seen = False
    for line in text.splitlines(keepends=True):
        if line.startswith(b"#"):
            out.append(line)
        elif line.startswith(prefix):
            seen = True
            _, pos_text, _, ref, _ = line.split(b"\t", 4)
            pos = int(pos_text)
            if end is not None and pos > end:
                break
            if start is None or pos + len(ref) - 1 >= start + 1:
                out.append(line)
        elif seen:
            break  # past the reference's block
    return b"".join(out)


def _int_param(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise HtsgetError(400, "InvalidInput", f"{name}: {value!r} is not an integer") from exc
    if number < 0:
        raise HtsgetError(400, "InvalidInput", f"{name}: {number} is negative")
    return number


def create_htsget_router(
    config: GenomlabConfig,
    *,
    resolve_key: KeyResolver | None = None,
    look_up: Callable[[], ApprovalLookUp] | None = None,
    visas: VisaCheck | None = None,
) -> APIRouter:
    """The htsget routes, checking visas with ``visas`` (the data service's
    :class:`~genomlab.services.visa_check.VisaCheck`) or one made of ``resolve_key`` and
    ``look_up`` (``look_up()`` gives the platform's approval look-up at a request)."""
    if visas is None:
        if resolve_key is None or look_up is None:
            raise ValueError("create_htsget_router: give visas, or resolve_key and look_up")
        visas = VisaCheck(resolve_key, look_up)
    check_visa = visas
    router = APIRouter()

    def check(request: Request, project_id: str) -> tuple[str, dict[str, Any]]:
        authorization = request.headers.get("authorization")
        try:
            check_visa.verify(authorization, dataset=project_dataset(project_id))
        except WrongDataset as exc:
            raise HtsgetError(403, "PermissionDenied", str(exc)) from exc
        except InvalidVisa as exc:
            raise HtsgetError(401, "InvalidAuthentication", str(exc)) from exc
        except ServiceUnavailable as exc:  # the platform cannot be asked
            raise HtsgetError(503, "ServiceUnavailable", f"visa not checked: {exc}") from exc
        token = (authorization or "").partition(" ")[2].strip()
        params = request.query_params
        fmt = params.get("format", "VCF").upper()
        if fmt != "VCF":
            raise HtsgetError(400, "UnsupportedFormat", f"format {fmt}: only VCF is served")
        reference = params.get("referenceName")
        start = _int_param(params.get("start"), "start")
        end = _int_param(params.get("end"), "end")
        if reference is None and (start is not None or end is not None):
            raise HtsgetError(400, "InvalidInput", "start/end need referenceName")
        if start is not None and end is not None and start > end:
            raise HtsgetError(400, "InvalidRange", f"start {start} > end {end}")
        return token, {"referenceName": reference, "start": start, "end": end}

    def ticket(request: Request, project_id: str) -> Response:
        try:
            token, region = check(request, project_id)
            check_release_vcf(config, project_id)  # 404 now rather than at the data URL
        except HtsgetError as error:
            return error.response()
        except NotFoundError as exc:
            return HtsgetError(404, "NotFound", str(exc)).response()
        query = urlencode({k: v for k, v in region.items() if v is not None})
        url = str(request.base_url).rstrip("/") + f"/htsget/data/{project_id}"
        body = {
            "htsget": {
                "format": "VCF",
                "urls": [
                    {
                        "url": url + (f"?{query}" if query else ""),
                        "headers": {"Authorization": f"Bearer {token}"},
                    }
                ],
            }
        }
        return JSONResponse(body, media_type=TICKET_TYPE)

    cache: dict[str, tuple[bytes, bytes]] = {}  # project → (manifest bytes, VCF), in memory only
    lock = threading.Lock()

    def cached_vcf(project_id: str) -> bytes:
        """The release VCF's text, decrypted once per release (the manifest changes with each) and
        kept in this process's memory for the few most recent projects; never on disk."""
        manifest_path = config.workspace_dir(project_id) / "release" / "manifest.json"
        manifest = manifest_path.read_bytes() if manifest_path.exists() else b""
        with lock:
            hit = cache.get(project_id)
        if hit is not None and hit[0] == manifest:
            return hit[1]
        vcf = gzip.decompress(read_release_vcf(config, project_id))
        with lock:
            cache[project_id] = (manifest, vcf)
            while len(cache) > CACHED_RELEASES:
                cache.pop(next(iter(cache)))
        return vcf

    def data(request: Request, project_id: str) -> Response:
        try:
            _, region = check(request, project_id)
            vcf = cached_vcf(project_id)
        except HtsgetError as error:
            return error.response()
        except NotFoundError as exc:
            return HtsgetError(404, "NotFound", str(exc)).response()
        return Response(
            select_region_text(vcf, region["referenceName"], region["start"], region["end"]),
            media_type=VCF_TYPE,
        )

    @router.get("/htsget/variants/{project_id}")
    async def variants(project_id: str, request: Request) -> Response:
        response: Response = await run_in_threadpool(ticket, request, project_id)
        return response

    @router.get("/htsget/data/{project_id}")
    async def variants_data(project_id: str, request: Request) -> Response:
        response: Response = await run_in_threadpool(data, request, project_id)
        return response

    return router


def create_service_htsget_router(config: GenomlabConfig, visas: VisaCheck) -> APIRouter:
    """The routes as the data service serves them, with its visa check
    (:meth:`VisaCheck.for_service`: the platform's JWKS and approvals)."""
    return create_htsget_router(config, visas=visas)
