"""Visas and releases for the tests of the endpoints that accept GA4GH visas.

Shared by ``test_htsget.py`` and ``test_visas_every_endpoint.py``: approvals of a home's
applications (:func:`approve_project`, one long past: :func:`expired_visas`), the visa of one
dataset (:func:`visa_for`), a forged copy (:func:`forge`), a release VCF encrypted to the project
and to the data service as the release writer leaves it (:func:`write_encrypted_release`), and a
home's platform and data service as real subprocesses on 127.0.0.1 (:func:`serving_home`; also
used by ``tests/federation/test_beacon_network.py`` for two homes).
"""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.platform.access_tokens import TOKEN_KEY
from genomlab.platform.applications import Workflow
from genomlab.platform.visas import JWKS_PATH, decode_unverified, issue_visas
from genomlab.services.process import ServiceProcess, running_service
from genomlab.workspace.crypt4gh_release import (
    data_service_release_key,
    encrypt_release_tree,
    ensure_project_key,
)
from tests.conftest import REPO
from tests.platform.conftest import make_form
from tests.services.people import save_service_client

EXPIRED_ISSUED_AT = datetime(2020, 6, 1, tzinfo=UTC)


def vcf_text() -> str:
    """A small VCF of two contigs, 60 records each, three samples; deletions of 1-4 bases."""
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=100000>",
        "##contig=<ID=chr2,length=100000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPP0001\tPP0002\tPP0003",
    ]
    for contig in ("chr1", "chr2"):
        for i in range(60):
            pos = 100 + i * 37
            ref = "ACGTA"[: 1 + i % 4]  # deletions spanning a region's start
            gts = ["0/1", "1/1", "0/0"][i % 3], ["0/0", "0/1", "1/1"][i % 3], "0/1"
            lines.append(f"{contig}\t{pos}\t.\t{ref}\tG\t50\tPASS\t.\tGT\t" + "\t".join(gts))
    return "\n".join(lines) + "\n"


def write_encrypted_release(config: GenomlabConfig, project_id: str, vcf_bgz: Path) -> None:
    """``vcf_bgz`` as the project's release VCF, Crypt4GH-encrypted to the project and to the
    data service (its second recipient), with the manifest saying so."""
    release = config.workspace_dir(project_id) / "release"
    release.mkdir(parents=True)
    (release / "genotypes.vcf.bgz").write_bytes(vcf_bgz.read_bytes())
    encryption = encrypt_release_tree(
        release,
        ensure_project_key(config, project_id),
        also_to=(data_service_release_key(config)[1],),
    )
    (release / "manifest.json").write_text(
        json.dumps({"release_id": "r1", "level": "individual", "encryption": encryption})
    )


def write_gzip_vcf(path: Path) -> Path:
    """:func:`vcf_text` gzip-compressed at ``path`` (what the service reads: gzip of VCF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(vcf_text().encode()))
    return path


def approve_project(config: GenomlabConfig, title: str, **approve: object) -> tuple[str, str]:
    """(project id, application id) of a new application of alice (tom on the team), approved
    by dora (the people of :func:`tests.platform.conftest.populate`)."""
    wf = Workflow(config)
    application_id = wf.create_draft("alice", make_form(title=title))
    project_id = wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.approve("dora", application_id, **approve)  # type: ignore[arg-type]
    return project_id, application_id


def visa_for(
    config: GenomlabConfig,
    user: str,
    dataset: str,
    *,
    application_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """``user``'s visa for ``dataset`` (a URN) among those the platform issues at ``at`` (of
    ``application_id``'s approval when given)."""
    [visa] = [
        v
        for v in issue_visas(config, user, at=at)
        if decode_unverified(v)["ga4gh_visa_v1"]["value"] == dataset
        and application_id in (None, decode_unverified(v)["genomlab_approval"]["application_id"])
    ]
    return visa


def approve_expired_project(config: GenomlabConfig) -> tuple[str, str]:
    """(project id, application id) of an approval of 2020 that ended on 31 December 2020:
    its visas, issued at :data:`EXPIRED_ISSUED_AT` (``visa_for(..., at=...)``), were valid then
    and have long expired."""
    with clock.use_clock(lambda: datetime(2020, 1, 1, 9, 0, tzinfo=UTC)):
        return approve_project(config, "A project of 2020", valid_until=date(2020, 12, 31))


def forge(visa: str) -> str:
    """The same claims and ``kid``, signed with a key that is not the platform's."""
    return jwt.encode(
        decode_unverified(visa),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"typ": "JWT", "kid": jwt.get_unverified_header(visa)["kid"]},
    )


def verify_with_jwks(platform_url: str, ca: Path, visa: str) -> dict:
    """``visa``'s claims as plain PyJWT verifies them with the platform's published JWKS
    (``PyJWKClient`` over HTTPS trusting only the platform's CA)."""
    client = jwt.PyJWKClient(
        platform_url + JWKS_PATH, ssl_context=ssl.create_default_context(cafile=str(ca))
    )
    key = client.get_signing_key_from_jwt(visa).key
    return dict(jwt.decode(visa, key, algorithms=["EdDSA"], options={"verify_aud": False}))


@contextmanager
def serving_home(
    config: GenomlabConfig, logs: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """(platform, data service) of ``config``'s home as real ``genomlab serve`` subprocesses on
    127.0.0.1 (HTTPS) for the block: the data service's client registered at the platform, the
    platform's token key made; logs ``platform.log`` and ``ds.log`` in ``logs``."""
    save_service_client(config, "data_service", "DSTEST01")
    Institution(config, "platform").keys().signing_key(TOKEN_KEY)
    child_env = {"PYTHONPATH": str(REPO), **(env or {})}
    logs.mkdir(parents=True, exist_ok=True)
    with (
        running_service(config, "platform", log=logs / "platform.log", env=child_env) as platform,
        running_service(config, "data_service", log=logs / "ds.log", env=child_env) as ds,
    ):
        yield platform, ds
