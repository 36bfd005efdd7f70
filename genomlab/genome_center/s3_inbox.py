"""The GRZ's S3 inbox, where hospitals upload with BfArM's ``grz-cli``.

A real GRZ runs its own S3 (Ceph, MinIO), named in ``genomlab.toml`` (``[grz_s3.<GRZ id>]``,
:class:`genomlab.config.GrzS3Config`) and opened by :func:`open_configured_s3`, which checks
that the operator's buckets and version policy are there; locally, :func:`start_local_inbox`
starts moto's S3 server (PyPI ``moto[server]``, genomlab's dev extra) in this process on a free
port of 127.0.0.1, creates the GRZ's inbox bucket and publishes grz-cli's version policy in it
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
from typing import TYPE_CHECKING, Any

from genomlab.genome_center.grz_tools import Crypt4ghKeyPair, S3Target, grz_cli_config

if TYPE_CHECKING:
    from collections.abc import Mapping

    from genomlab.config import GenomlabConfig

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
    ca_bundle: str | None = None
    """The CA file of an ``https`` endpoint (``None``: the system's CAs)."""
    _server: Any = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        """Whether genomlab started this inbox's server (moto) itself."""
        return self._server is not None

    def target(self) -> S3Target:
        return S3Target(endpoint_url=self.endpoint_url, bucket=self.bucket,
                        access_key=self.access_key, secret=self.secret,
                        region_name=self.region_name, ca_bundle=self.ca_bundle)

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
                            config=Config(proxies={}, retries={"max_attempts": 2}),
                            verify=self.ca_bundle)

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


@dataclass(frozen=True)
class ConfiguredS3:
    """A GRZ's own S3 as ``genomlab.toml`` names it: the inbox and the two archive buckets."""

    inbox: Inbox
    archive_buckets: dict[str, str]
    """``consented`` / ``non_consented`` → bucket (grzctl's archive names)."""


def open_configured_s3(config: GenomlabConfig, grz_id: str, *,
                       environ: Mapping[str, str] | None = None) -> ConfiguredS3 | None:
    """GRZ ``grz_id``'s own S3 (``[grz_s3.<grz_id>]``), or ``None`` if none is configured.

    Reads the credentials where the configuration points and checks, before any hospital
    uploads, that the three buckets exist and the inbox holds grz-cli's version policy
    (``version.json``). Starts nothing and creates nothing: the buckets and the policy are the
    operator's.

    Raises
    ------
    genomlab.config.ConfigError
        Naming the GRZ, the key and what is wrong: credentials not found (see
        :meth:`genomlab.config.GrzS3Config.get_credentials`), the endpoint not answering or
        refusing the key, a bucket missing, no version policy in the inbox.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from genomlab.config import ConfigError

    setting = config.grz_s3.get(grz_id)
    if setting is None:
        return None
    access_key, secret = setting.get_credentials(grz_id, environ)
    inbox = Inbox(grz_id=grz_id, endpoint_url=setting.endpoint_url,
                  bucket=setting.inbox_bucket, access_key=access_key, secret=secret,
                  region_name=setting.region,
                  ca_bundle=None if setting.ca_bundle is None else str(setting.ca_bundle))
    archives = {"consented": setting.archive_consented_bucket,
                "non_consented": setting.archive_non_consented_bucket}
    client = inbox.client()
    where = f"grz_s3.{grz_id}"
    for key, bucket in (("inbox_bucket", inbox.bucket),
                        ("archive_consented_bucket", archives["consented"]),
                        ("archive_non_consented_bucket", archives["non_consented"])):
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            what = {"404": "does not exist", "NoSuchBucket": "does not exist",
                    "403": "refuses the configured access key"}.get(str(code), f"error {code}")
            raise ConfigError(f"{where}.{key}: bucket {bucket!r} at {setting.endpoint_url} "
                              f"{what} (the operator creates it)") from None
        except BotoCoreError as exc:
            raise ConfigError(f"{where}.endpoint_url: {setting.endpoint_url}: {exc}") from None
    try:
        client.head_object(Bucket=inbox.bucket, Key=VERSION_FILE_KEY)
    except ClientError:
        raise ConfigError(f"{where}.inbox_bucket: {inbox.bucket!r} holds no grz-cli version "
                          f"policy ({VERSION_FILE_KEY}; publish it with grzctl inbox "
                          "push-version)") from None
    return ConfiguredS3(inbox=inbox, archive_buckets=archives)


def has_upload(inbox: Inbox, submission_id: str) -> bool:
    """Whether the inbox holds the metadata of ``submission_id`` (uploaded, or cleaned by
    grzctl, which keeps an emptied metadata file): then grz-cli refuses to upload it again."""
    from botocore.exceptions import ClientError

    try:
        inbox.client().head_object(Bucket=inbox.bucket,
                                   Key=f"{submission_id}/metadata/metadata.json")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
