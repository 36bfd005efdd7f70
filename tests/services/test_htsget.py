"""htsget for released variants: the PyPI ``htsget`` client's region equals ``bcftools view -r``.

The htsget routes (:func:`genomlab.services.htsget_api.create_htsget_router`) run in a uvicorn
server on 127.0.0.1 (port 0) over an approved project whose release is Crypt4GH-encrypted to the
project and to the data service; visas are the platform's (:func:`issue_visas`), checked
against the platform's records. The client is the PyPI ``htsget`` 0.2.6 command line in a venv
of its own (``$PYTEST_HTSGET``, else ``.htsget-venv/bin/htsget``; skipped without it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.entitlements import get_approval_status
from genomlab.platform.visas import get_visa_public_key, project_dataset
from genomlab.services.htsget_api import create_htsget_router, select_region
from tests.conftest import REPO, config_for
from tests.platform.conftest import approve_application
from tests.services.visa_helpers import (
    EXPIRED_ISSUED_AT,
    approve_expired_project,
    approve_project,
    forge,
    vcf_text,
    visa_for,
    write_encrypted_release,
)

HTSGET = os.environ.get("PYTEST_HTSGET") or str(REPO / ".htsget-venv" / "bin" / "htsget")
needs_tools = pytest.mark.skipif(
    not Path(HTSGET).exists() or shutil.which("bcftools") is None,
    reason="needs the PyPI htsget client ($PYTEST_HTSGET) and bcftools",
)


@dataclass
class Served:
    url: str
    config: GenomlabConfig
    project_id: str
    application_id: str
    plain_vcf: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("htsget")
    config = config_for(base / "home")
    project_id, application_id = approve_application(config)
    plain = base / "plain" / "genotypes.vcf.bgz"  # the test's own copy, for bcftools
    plain.parent.mkdir()
    (base / "plain" / "in.vcf").write_text(vcf_text())
    subprocess.run(
        ["bcftools", "view", "-Oz", "-o", str(plain), str(base / "plain" / "in.vcf")], check=True
    )
    subprocess.run(["bcftools", "index", "-t", str(plain)], check=True)
    write_encrypted_release(config, project_id, plain)
    app = FastAPI()
    app.include_router(
        create_htsget_router(
            config,
            resolve_key=lambda _token: get_visa_public_key(config),
            look_up=lambda: lambda a: get_approval_status(config, a),
        )
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield Served(
            f"http://127.0.0.1:{sock.getsockname()[1]}", config, project_id, application_id, plain
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _visa(config: GenomlabConfig, user: str, project_id: str) -> str:
    return visa_for(config, user, project_dataset(project_id))


def _records(vcf: bytes) -> list[bytes]:
    return [line for line in vcf.splitlines() if not line.startswith(b"##bcftools_")]


def test_select_region__overlap_rule_of_bcftools() -> None:
    import gzip

    vcf = gzip.compress(
        b"#CHROM\tPOS\tID\tREF\tALT\n"
        b"chr1\t98\t.\tACG\tA\nchr1\t97\t.\tAC\tA\nchr1\t200\t.\tA\tG\n"
        b"chr1\t201\t.\tA\tG\nchr2\t150\t.\tA\tG\n"
    )
    picked = select_region(vcf, "chr1", 99, 200).splitlines()  # 1-based 100-200
    assert picked == [b"#CHROM\tPOS\tID\tREF\tALT", b"chr1\t98\t.\tACG\tA", b"chr1\t200\t.\tA\tG"]


@needs_tools
@pytest.mark.parametrize(
    ("reference", "start", "end"), [("chr1", 1000, 1500), ("chr2", 0, 250), ("chr1", 1211, 1212)]
)
def test_htsget_client__region_equals_bcftools_view_r(
    served: Served, tmp_path: Path, reference: str, start: int, end: int
) -> None:
    out = tmp_path / "region.vcf"
    visa = _visa(served.config, "tom", served.project_id)
    subprocess.run(
        [
            HTSGET,
            f"{served.url}/htsget/variants/{served.project_id}",
            "--format",
            "VCF",
            "--reference-name",
            reference,
            "--start",
            str(start),
            "--end",
            str(end),
            "--bearer-token",
            visa,
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    expected = subprocess.run(
        ["bcftools", "view", "-r", f"{reference}:{start + 1}-{end}", str(served.plain_vcf)],
        check=True,
        capture_output=True,
    ).stdout
    got = out.read_bytes()
    assert _records(got) == _records(expected)
    assert len([r for r in _records(got) if not r.startswith(b"#")]) >= 1
    reread = subprocess.run(
        ["bcftools", "view", "-H", str(out)], check=True, capture_output=True
    ).stdout  # bcftools reads the result
    assert reread.count(b"\n") == len([r for r in _records(got) if not r.startswith(b"#")])


def test_htsget__expired_revoked_wrong_dataset_and_forged_visas_are_refused(served: Served) -> None:
    config = served.config
    good = _visa(config, "tom", served.project_id)
    other_project, _ = approve_project(config, "Another project")  # a visa for another dataset
    other = _visa(config, "tom", other_project)
    old_project, _ = approve_expired_project(config)
    expired = visa_for(config, "tom", project_dataset(old_project), at=EXPIRED_ISSUED_AT)
    forged = forge(good)
    paths = [
        f"/htsget/variants/{served.project_id}?referenceName=chr1&start=0&end=500",
        f"/htsget/data/{served.project_id}?referenceName=chr1&start=0&end=500",
    ]
    with httpx.Client(base_url=served.url) as http:
        for path in paths:
            assert http.get(path, headers={"Authorization": f"Bearer {good}"}).status_code == 200
            assert http.get(path).status_code == 401
            for visa, status in ((forged, 401), (other, 403), ("not-a-jwt", 401)):
                answer = http.get(path, headers={"Authorization": f"Bearer {visa}"})
                assert answer.status_code == status, (path, answer.text)
                assert answer.json()["htsget"]["error"] in {
                    "InvalidAuthentication",
                    "PermissionDenied",
                }
                assert b"PP0001" not in answer.content
        # expired: a visa of an approval that ended in 2020 (the server's clock is now)
        for path in paths:
            answer = http.get(path, headers={"Authorization": f"Bearer {expired}"})
            assert answer.status_code == 401
            assert "expired" in answer.json()["htsget"]["message"]
        # revoked: the same visa is refused at both endpoints from then on
        Workflow(config).revoke("dora", served.application_id, "breach of duties")
        for path in paths:
            answer = http.get(path, headers={"Authorization": f"Bearer {good}"})
            assert answer.status_code == 401
            assert "revoked" in answer.json()["htsget"]["message"]


def test_htsget__platform_not_answering_is_503_never_assumed(served: Served) -> None:
    import asyncio

    from genomlab.clients.oauth import ServiceUnavailable

    def unreachable(_application_id: str) -> dict[str, str]:
        raise ServiceUnavailable("platform: connection refused")

    app = FastAPI()
    app.include_router(
        create_htsget_router(
            served.config,
            resolve_key=lambda _token: get_visa_public_key(served.config),
            look_up=lambda: unreachable,
        )
    )
    # an approval of its own (the module's may be revoked by now)
    project_id, _ = approve_project(served.config, "Unreachable platform")
    visa = _visa(served.config, "alice", project_id)

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get(
                f"/htsget/variants/{project_id}", headers={"Authorization": f"Bearer {visa}"}
            )

    answer = asyncio.run(ask())
    assert answer.status_code == 503
    assert answer.json()["htsget"]["error"] == "ServiceUnavailable"
