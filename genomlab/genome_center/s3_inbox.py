"""The GRZ's S3 inbox, where hospitals upload with BfArM's ``grz-cli``.

A real GRZ runs its own S3 (Ceph, MinIO); locally, :func:`start_local_inbox` starts moto's S3
server (PyPI ``moto[server]``, genomlab's dev extra) in this process on a free port of
127.0.0.1, creates the GRZ's inbox bucket and publishes grz-cli's version policy in it
(``version.json``: grz-cli refuses to upload without one; the text is the policy bundled with the
installed grz-common, as ``grzctl inbox push-version`` publishes it). :meth:`Inbox.hospital_config`
gives the ``grz-cli`` configuration a hospital needs to submit to this GRZ.

Uploaded objects follow grz-cli's layout: ``<submission id>/metadata/metadata.json`` (plain),
``<submission id>/files/<file path>.c4gh`` (Crypt4GH-encrypted to the GRZ's public key) and
``<submission id>/version`` (the grz-cli version that uploaded).
"""

from __future__ import annotations

import logging
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomlab.genome_center.grz_tools import Crypt4ghKeyPair, S3Target, grz_cli_config

VERSION_FILE_KEY = "version.json"
"""Where grz-cli looks for the GRZ's version policy in the inbox bucket (grz-common's key)."""

LOOPBACK = "127.0.0.1"


def bundled_version_policy(tools_python: Path) -> str:
    """The grz-cli version policy bundled with the installed grz-common (``tools_python`` is the
    Python of BfArM's tool environment), exactly as ``grzctl inbox push-version`` publishes it."""
    done = subprocess.run(
        [str(tools_python), "-c", "from grz_common.models.version import VersionFile; "
         "import sys; sys.stdout.write(VersionFile.read_bundled_text())"],
        check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    return done.stdout


@dataclass
class Inbox:
    """A running S3 inbox: its endpoint, the GRZ's bucket and the credentials it accepts."""

    grz_id: str
    endpoint_url: str
    bucket: str
    access_key: str
    secret: str
    region_name: str = "us-east-1"
    _server: Any = field(default=None, repr=False)

    def target(self) -> S3Target:
        return S3Target(endpoint_url=self.endpoint_url, bucket=self.bucket,
                        access_key=self.access_key, secret=self.secret,
                        region_name=self.region_name)

    def hospital_config(self, submitter_id: str, grz_keys: Crypt4ghKeyPair) -> dict[str, Any]:
        """The ``grz-cli`` configuration of hospital ``submitter_id`` submitting to this GRZ."""
        return grz_cli_config(grz_id=self.grz_id, submitter_id=submitter_id,
                              grz_public_key=grz_keys.public_key_text(), s3=self.target())

    def client(self) -> Any:
        """A boto3 S3 client for this inbox (the GRZ's side: list, download)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret, region_name=self.region_name,
                            config=Config(proxies={}, retries={"max_attempts": 2}))

    def keys(self) -> list[str]:
        """Every object key in the bucket, sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(obj["Key"] for page in paginator.paginate(Bucket=self.bucket)
                      for obj in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        body: bytes = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def stop(self) -> None:
        """Stop the local server (a no-op for an inbox genomlab did not start)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_inbox(grz_id: str, *, version_policy: str, bucket: str | None = None) -> Inbox:
    """Start moto's S3 server on a free port of 127.0.0.1 with the GRZ's inbox bucket in it.

    ``version_policy`` is the text published as ``version.json`` (see
    :func:`bundled_version_policy`). The access key pair is fresh for each inbox; moto accepts
    any, a real inbox gives each hospital its own. Stop the server with :meth:`Inbox.stop` (or
    use the inbox as a context manager).
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        if host != LOOPBACK:
            raise RuntimeError(f"moto bound {host}:{port}, not {LOOPBACK}")
        inbox = Inbox(grz_id=grz_id, endpoint_url=f"http://{LOOPBACK}:{port}",
                      bucket=bucket or f"{grz_id.lower()}-inbox",
                      access_key=f"LE{secrets.token_hex(8).upper()}",
                      secret=secrets.token_urlsafe(30), _server=server)
        client = inbox.client()
        client.create_bucket(Bucket=inbox.bucket)
        client.put_object(Bucket=inbox.bucket, Key=VERSION_FILE_KEY,
                          Body=version_policy.encode("utf-8"))
    except BaseException:
        server.stop()
        raise
    return inbox
