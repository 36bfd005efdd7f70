"""The data service's side of a GRZ's genotype answer: what it refuses before Hail reads a byte.

No service and no Hail: the GRZ's answers are made here (``httpx.MockTransport`` in place of the
service's HTTPS endpoint). The answer of a real GRZ service and the refusals at the service are in
``test_grz_service.py``.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from genomlab.clients import nodes
from genomlab.clients.nodes import (
    DIGEST_HEADER,
    GENOTYPES_PATH,
    NodeServiceReader,
    format_sha256_digest,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import ValidationFailed
from genomlab.institution import Institution

GRZ = "GRZK00001"


class Tokens:
    """Stands in for the data service's bearer tokens."""

    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer test"}

    def forget(self) -> None:
        raise AssertionError("no 401 here")


class Endpoint:
    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer

    def http(self) -> httpx.Client:
        return httpx.Client(base_url="https://grz.test", transport=httpx.MockTransport(self.answer))


def _tar(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _reader(config: GenomlabConfig, monkeypatch: pytest.MonkeyPatch, body: bytes,
            digest: str | None) -> NodeServiceReader:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == GENOTYPES_PATH
        headers = {DIGEST_HEADER: digest} if digest is not None else {}
        return httpx.Response(200, stream=httpx.ByteStream(body), headers=headers)

    monkeypatch.setattr(nodes, "get_service_endpoint", lambda _config, _name: Endpoint(answer))
    return NodeServiceReader(config, "grz", GRZ, Tokens())  # type: ignore[arg-type]


def _downloads(config: GenomlabConfig) -> list[Path]:
    return sorted((Institution(config, "data_service").directory / "tmp").glob("genotypes-*"))


def test_export_cohort_genotypes__changed_tar_refused_before_unpacking(config, monkeypatch):
    body = _tar({"genotypes.mt/metadata.json.gz": b"x"})
    sent = format_sha256_digest(hashlib.sha256(body + b"changed").digest())
    reader = _reader(config, monkeypatch, body, sent)

    with pytest.raises(ValidationFailed, match=rf"grz-{GRZ} genotypes: field {DIGEST_HEADER}: "
                                               "the tar received has sha-256"):
        reader.export_cohort_genotypes(None, ["GDP1-A"])  # type: ignore[arg-type]
    assert _downloads(config) == []  # nothing unpacked, nothing left
    assert reader.downloads == []


def test_export_cohort_genotypes__answer_without_digest_refused(config, monkeypatch):
    reader = _reader(config, monkeypatch, _tar({"genotypes.mt/x": b"x"}), None)
    with pytest.raises(ValidationFailed, match=f"field {DIGEST_HEADER}: missing"):
        reader.export_cohort_genotypes(None, ["GDP1-A"])  # type: ignore[arg-type]
    assert _downloads(config) == []


@pytest.mark.parametrize(("entries", "message"), [
    ({"genotypes.mt/../../escaped": b"x"}, "outside the destination"),
    ({"/etc/genotypes.mt": b"x"}, "is outside genotypes.mt"),
    ({"other.mt/x": b"x"}, "is outside genotypes.mt"),
    ({}, "holds no genotypes.mt"),
])
def test_export_cohort_genotypes__unsafe_or_foreign_tar_refused(config, monkeypatch, entries,
                                                               message):
    body = _tar(entries)
    reader = _reader(config, monkeypatch, body, format_sha256_digest(hashlib.sha256(body)
                                                                     .digest()))
    with pytest.raises(ValidationFailed, match=rf"grz-{GRZ} genotypes: .*{message}"):
        reader.export_cohort_genotypes(None, ["GDP1-A"])  # type: ignore[arg-type]
    assert _downloads(config) == []
    assert not (config.home / "escaped").exists()
    assert not list(config.home.rglob("escaped"))


def test_export_cohort_genotypes__not_a_tar_refused(config, monkeypatch):
    body = b"<html>a proxy's error page</html>" * 20
    reader = _reader(config, monkeypatch, body, format_sha256_digest(hashlib.sha256(body)
                                                                     .digest()))
    with pytest.raises(ValidationFailed, match=f"grz-{GRZ} genotypes: not a usable tar"):
        reader.export_cohort_genotypes(None, ["GDP1-A"])  # type: ignore[arg-type]
    assert _downloads(config) == []
