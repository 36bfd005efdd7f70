"""A GRZ's own S3 is checked before anything is sent (:func:`open_configured_s3`): the
operator's buckets and grz-cli's version policy must be there; errors name GRZ, key and bucket.
The S3 is moto's server on 127.0.0.1, made by the test as the operator would (seconds)."""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from genomlab.config import ConfigError, GenomlabConfig, load_config
from genomlab.genome_center.s3_inbox import (
    VERSION_FILE_KEY,
    Inbox,
    has_upload,
    open_configured_s3,
)

GRZ = "GRZK00001"
ENV = {"OWN_S3_KEY": "OPKEY", "OWN_S3_SECRET": "opsecret"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _configure(tmp_path: Path, endpoint: str, *, make: tuple[str, ...] = ("inbox", "consented",
               "non_consented"), policy: bool = True) -> tuple[GenomlabConfig, dict[str, str]]:
    tag = secrets.token_hex(4)  # moto's buckets are process-wide
    buckets = {name: f"own-{name.replace('_', '-')}-{tag}"
               for name in ("inbox", "consented", "non_consented")}
    operator = Inbox(GRZ, endpoint, buckets["inbox"], ENV["OWN_S3_KEY"], ENV["OWN_S3_SECRET"])
    for name in make:
        operator.client().create_bucket(Bucket=buckets[name])
    if policy and "inbox" in make:
        operator.client().put_object(Bucket=buckets["inbox"], Key=VERSION_FILE_KEY, Body=b"{}")
    toml = tmp_path / "genomlab.toml"
    toml.write_text(f"""[grz_s3.{GRZ}]
endpoint_url = "{endpoint}"
inbox_bucket = "{buckets['inbox']}"
archive_consented_bucket = "{buckets['consented']}"
archive_non_consented_bucket = "{buckets['non_consented']}"
access_key_env = "OWN_S3_KEY"
secret_key_env = "OWN_S3_SECRET"
""")
    return load_config(toml, environ={"GENOMLAB_HOME": str(tmp_path / "home")}), buckets


def test_open_configured_s3__opens_the_operators_buckets(tmp_path: Path, endpoint: str) -> None:
    config, buckets = _configure(tmp_path, endpoint)
    assert open_configured_s3(config, "GRZK00002", environ=ENV) is None  # not configured
    own = open_configured_s3(config, GRZ, environ=ENV)
    assert own is not None
    assert (own.inbox.endpoint_url, own.inbox.bucket, own.inbox.access_key,
            own.inbox.secret, own.inbox.is_local) == (
        endpoint, buckets["inbox"], "OPKEY", "opsecret", False)
    assert own.archive_buckets == {"consented": buckets["consented"],
                                   "non_consented": buckets["non_consented"]}
    assert own.inbox.keys() == [VERSION_FILE_KEY]  # nothing created, nothing written
    assert has_upload(own.inbox, "260950623_2026-02-06_b9cf6bee") is False
    own.inbox.client().put_object(Bucket=own.inbox.bucket,
                                  Key="260950623_2026-02-06_b9cf6bee/metadata/metadata.json",
                                  Body=b"")  # grzctl clean's emptied metadata
    assert has_upload(own.inbox, "260950623_2026-02-06_b9cf6bee") is True


@pytest.mark.parametrize(("make", "policy", "message"), [
    (("inbox", "non_consented"), True,
     r"^grz_s3\.GRZK00001\.archive_consented_bucket: bucket 'own-consented-\w+' at "
     r"http://127\.0\.0\.1:\d+ does not exist \(the operator creates it\)$"),
    (("consented", "non_consented"), True,
     r"^grz_s3\.GRZK00001\.inbox_bucket: bucket 'own-inbox-\w+' .* does not exist"),
    (("inbox", "consented", "non_consented"), False,
     r"^grz_s3\.GRZK00001\.inbox_bucket: 'own-inbox-\w+' holds no grz-cli version policy "
     r"\(version\.json; publish it with grzctl inbox push-version\)$"),
])
def test_open_configured_s3__missing_bucket_or_policy_names_grz_and_key(
        tmp_path: Path, endpoint: str, make: tuple[str, ...], policy: bool,
        message: str) -> None:
    config, _ = _configure(tmp_path, endpoint, make=make, policy=policy)
    with pytest.raises(ConfigError, match=message):
        open_configured_s3(config, GRZ, environ=ENV)


def test_open_configured_s3__unset_credentials_or_no_server_are_named(
        tmp_path: Path, endpoint: str) -> None:
    config, _ = _configure(tmp_path, endpoint)
    with pytest.raises(ConfigError, match=r"^grz_s3\.GRZK00001\.access_key_env: environment "
                                          r"variable OWN_S3_KEY is not set$"):
        open_configured_s3(config, GRZ, environ={})
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    gone = config.model_copy(update={"grz_s3": {GRZ: config.grz_s3[GRZ].model_copy(
        update={"endpoint_url": closed})}})
    with pytest.raises(ConfigError, match=rf"^grz_s3\.GRZK00001\.endpoint_url: {closed}: "):
        open_configured_s3(gone, GRZ, environ=ENV)
