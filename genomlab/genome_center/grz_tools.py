"""BfArM's own submission tools, run as the hospitals and the GRZ run them.

``grz-cli`` (the hospitals': ``validate`` with grz-check, ``encrypt`` with Crypt4GH to the GRZ's
public key, ``upload`` to the GRZ's S3 inbox, ``submit`` = all three) and ``grzctl`` (the GRZ's)
live in a virtual environment of their own, ``.grzctl-venv`` (``.ci/setup``): their
pins are not genomlab's, so genomlab never imports them and only runs their command lines.

The GRZ's Crypt4GH key pair is made by ``crypt4gh-keygen`` from the ``crypt4gh`` package in that
environment (genomlab has no Crypt4GH code of its own). A hospital's ``grz-cli`` configuration
names the GRZ and the hospital (``identifiers``), the GRZ's public key (``keys``) and, for upload,
the GRZ's inbox bucket (``s3``). It is written as JSON, which is YAML, the format grz-cli reads.

Examples
--------
>>> config = grz_cli_config(grz_id="GRZK00001", submitter_id="260950623",
...                         grz_public_key="-----BEGIN CRYPT4GH PUBLIC KEY-----\\nAAAA\\n"
...                                        "-----END CRYPT4GH PUBLIC KEY-----\\n")
>>> sorted(config), config["identifiers"]
(['identifiers', 'keys'], {'grz': 'GRZK00001', 'le': '260950623'})
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomlab.genome_center.grz_tool_runner import run_grz_tool

TOOLS_VENV = ".grzctl-venv"
"""The folder (at the repository root) holding BfArM's tools, as ``.ci/setup`` installs them."""

LOOPBACK_NO_PROXY = "127.0.0.1,localhost"

GRZ_CLI_COMMANDS = ("validate", "encrypt", "upload", "submit")


class GrzToolMissing(RuntimeError):
    """One of BfArM's tools is not installed where genomlab looks for it."""


def find_grz_tool(name: str, roots: Sequence[Path], *, override: str | None = None) -> Path | None:
    """The executable ``name`` of BfArM's tools, or ``None``.

    Looked for, in order: ``override`` (e.g. an environment variable's value),
    ``<root>/.grzctl-venv/bin/<name>`` for each of ``roots``, then ``PATH``.

    >>> find_grz_tool("no-such-grz-tool", [Path("/nonexistent")]) is None
    True
    """
    candidates: list[str | None] = [override]
    candidates += [str(root / TOOLS_VENV / "bin" / name) for root in roots]
    candidates.append(shutil.which(name))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def require_grz_tool(name: str, roots: Sequence[Path], *, override: str | None = None) -> Path:
    """Like :func:`find_grz_tool`, but raises :class:`GrzToolMissing` naming where it looked."""
    found = find_grz_tool(name, roots, override=override)
    if found is None:
        where = ", ".join(str(root / TOOLS_VENV / "bin" / name) for root in roots)
        raise GrzToolMissing(f"{name} not found (looked in {where} and PATH): "
                             "run .ci/setup")
    return found


@dataclass(frozen=True)
class Crypt4ghKeyPair:
    """A Crypt4GH key pair as files: ``secret_key`` (0600, unencrypted) and ``public_key``."""

    secret_key: Path
    public_key: Path

    def public_key_text(self) -> str:
        return self.public_key.read_text(encoding="ascii")


def make_crypt4gh_keypair(keygen: Path, keys_dir: Path, name: str = "inbox") -> Crypt4ghKeyPair:
    """The Crypt4GH key pair ``name`` in ``keys_dir`` (an institution's key folder), made once.

    ``keygen`` is ``crypt4gh-keygen`` of the ``crypt4gh`` package. The pair is written into a
    private temporary folder and renamed into place as ``<name>.c4gh/``, so a crash leaves no
    half pair and two processes that race both end up with the winner's pair.

    :raises subprocess.CalledProcessError: if ``crypt4gh-keygen`` fails.
    """
    final = keys_dir / f"{name}.c4gh"
    pair = Crypt4ghKeyPair(secret_key=final / "key.sec", public_key=final / "key.pub")
    if final.is_dir():
        return pair
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.c4gh.", dir=keys_dir))
    try:
        subprocess.run([str(keygen), "--sk", str(tmp / "key.sec"), "--pk", str(tmp / "key.pub"),
                        "--nocrypt", "-C", f"genomlab {name}"],
                       check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=60)
        os.chmod(tmp / "key.sec", 0o600)
        os.chmod(tmp / "key.pub", 0o600)  # the owner hands it out (as config text)
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return pair


@dataclass(frozen=True)
class S3Target:
    """Where a hospital uploads: the GRZ's inbox bucket and the hospital's access key."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret: str
    region_name: str = "us-east-1"
    ca_bundle: str | None = None
    """The PEM file of the CA of an ``https`` endpoint (``None``: the system's); BfArM's tools
    take it as ``AWS_CA_BUNDLE`` (grz-common's S3 options have no field for it)."""


def grz_cli_config(*, grz_id: str, submitter_id: str, grz_public_key: str,
                   s3: S3Target | None = None) -> dict[str, Any]:
    """A hospital's ``grz-cli`` configuration (see grz-cli's ``ValidateConfig``, ``EncryptConfig``,
    ``UploadConfig``): identifiers, the GRZ's Crypt4GH public key and, for upload, the inbox."""
    config: dict[str, Any] = {
        "identifiers": {"grz": grz_id, "le": submitter_id},
        "keys": {"grz_public_key": grz_public_key},
    }
    if s3 is not None:
        config["s3"] = {"endpoint_url": s3.endpoint_url, "bucket": s3.bucket,
                        "access_key": s3.access_key, "secret": s3.secret,
                        "region_name": s3.region_name,
                        "use_ssl": s3.endpoint_url.startswith("https:")}
    return config


def write_grz_cli_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` to ``path`` (0600: it holds the inbox's secret key); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
    return path


def grz_cli_env(config_home: Path, *, ca_bundle: str | None = None) -> dict[str, str]:
    """The environment grz-cli runs in: no user configuration merged in (``XDG_CONFIG_HOME`` is
    ``config_home``, an empty private folder), no AWS profile, no proxy for loopback, and the
    S3 endpoint's CA (``AWS_CA_BUNDLE``) if ``ca_bundle`` is given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("C4GH_SECRET_KEY", "C4GH_PUBLIC_KEY")}
    if ca_bundle is not None:
        env["AWS_CA_BUNDLE"] = ca_bundle
    config_home.mkdir(parents=True, exist_ok=True)
    env["XDG_CONFIG_HOME"] = str(config_home)
    no_proxy = ",".join(p for p in (env.get("NO_PROXY"), LOOPBACK_NO_PROXY) if p)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def run_grz_cli(grz_cli: Path, command: str, submission_dir: Path, config_file: Path, *,
                extra: Sequence[str] = (), ca_bundle: str | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``grz-cli <command> --config-file <config_file> --submission-dir <submission_dir>``.

    Returns the finished process (exit code, stdout, stderr); a failing validation is a result,
    not an exception. ``command`` is ``validate``, ``encrypt``, ``upload`` or ``submit``;
    ``ca_bundle`` is the inbox's CA (:attr:`S3Target.ca_bundle`).
    """
    if command not in GRZ_CLI_COMMANDS:
        raise ValueError(f"grz-cli command {command!r}: not one of {', '.join(GRZ_CLI_COMMANDS)}")
    config_home = config_file.parent / f".{config_file.stem}.xdg"
    return run_grz_tool(grz_cli, ["--log-level", "INFO", command, "--config-file",
                                  str(config_file), "--submission-dir", str(submission_dir),
                                  *extra],
                        env=grz_cli_env(config_home, ca_bundle=ca_bundle), timeout=timeout)
