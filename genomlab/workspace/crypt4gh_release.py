"""Crypt4GH for individual-level releases: encrypted to the project's key, decrypted per member.

The data service writes an individual-level release (:func:`genomlab.data_service.release.
release_application`) as ``<workspace>/release/manifest.json`` (plain: counts, sources,
hashes, no person's data) and ``release.tar.c4gh``: every data file of the release
(``genotypes.mt/…``, ``clinical/persons.parquet``) in one tar stream, encrypted with the
``crypt4gh`` package (GA4GH Crypt4GH v1, the format BfArM's grz-cli uses for submissions) to
the project's public key; the sender key is ephemeral. No plaintext copy stays on disk outside
a member's scratch.

The project's key pair lives in the workspace, ``<workspace>/keys/project.c4gh.sec`` (0600, in
a 0700 folder; unencrypted Crypt4GH private-key format, so the workspace's access control is
its protection) and ``project.c4gh.pub``, made on first use. A ciphertext copied out of the
workspace (backups, snapshots, a misplaced copy) is useless without it.

Members read a release through :func:`genomlab.workspace.release.open_release` (and every
reader built on it: :func:`genomlab.workspace.io.read_source`, ``read_release_samples``,
``Release.read_matrix_table``): after the entitlement check it decrypts the release once into
the member's scratch, ``<workspace>/scratch/<user>/release-<release id>/`` (the user's folder
0700), and hands that folder to the readers. Older releases' copies of that member are deleted
when a new release is opened. A release without ``encryption`` in its manifest (aggregate
level, or one written before Crypt4GH) is read where it lies.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import threading
from pathlib import Path
from typing import IO, Any

from crypt4gh import lib as c4gh_lib  # type: ignore[import-untyped]
from crypt4gh import sodium as c4gh_sodium
from crypt4gh.keys import c4gh as c4gh_keys  # type: ignore[import-untyped]

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, NotFoundError

ENCRYPTED_NAME = "release.tar.c4gh"
FORMAT = "crypt4gh"
KEY_DIR = "keys"
SECRET_KEY = "project.c4gh.sec"
PUBLIC_KEY = "project.c4gh.pub"
SCRATCH = "scratch"
_PUB_BEGIN = b"-----BEGIN CRYPT4GH PUBLIC KEY-----"
_PUB_END = b"-----END CRYPT4GH PUBLIC KEY-----"
_SEC_BEGIN = b"-----BEGIN CRYPT4GH PRIVATE KEY-----"
_SEC_END = b"-----END CRYPT4GH PRIVATE KEY-----"


def _pem(begin: bytes, data: bytes, end: bytes) -> bytes:
    return begin + b"\n" + base64.b64encode(data) + b"\n" + end + b"\n"


def _unpem(text: bytes, path: Path) -> bytes:
    lines = text.strip().splitlines()
    if len(lines) != 3:
        raise GenomlabError(f"{path}: not a Crypt4GH key file")
    return base64.b64decode(lines[1])


def key_fingerprint(public_key: bytes) -> str:
    """16 hex digits of sha256 over a raw 32-byte Crypt4GH (X25519) public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def ensure_project_key(config: GenomlabConfig, project: str) -> bytes:
    """The project's raw Crypt4GH public key; the key pair is made on first use."""
    folder = config.workspace_dir(project) / KEY_DIR
    public = folder / PUBLIC_KEY
    if public.exists():
        return _unpem(public.read_bytes(), public)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    secret = os.urandom(32)
    # Crypt4GH private-key format, kdf and cipher "none" (what encode_private_key writes
    # without a passphrase, minus its warning on stderr)
    encoded = (
        c4gh_keys.MAGIC_WORD
        + c4gh_keys.encode_string(None)
        + c4gh_keys.encode_string(None)
        + c4gh_keys.encode_string(secret)
    )
    fd = os.open(folder / SECRET_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_pem(_SEC_BEGIN, encoded, _SEC_END))
    raw_public = c4gh_sodium.derive_pk(secret)
    staged = folder / f".{PUBLIC_KEY}.{os.getpid()}"
    staged.write_bytes(_pem(_PUB_BEGIN, raw_public, _PUB_END))
    os.replace(staged, public)
    return bytes(raw_public)


def _project_secret_key(config: GenomlabConfig, project: str) -> bytes:
    path = config.workspace_dir(project) / KEY_DIR / SECRET_KEY
    if not path.exists():
        raise NotFoundError(
            f"{path}: the project's Crypt4GH key is missing; the release cannot be decrypted"
        )
    stream = io.BytesIO(_unpem(path.read_bytes(), path))
    if stream.read(len(c4gh_keys.MAGIC_WORD)) != c4gh_keys.MAGIC_WORD:
        raise GenomlabError(f"{path}: not a Crypt4GH private key")
    secret: bytes = c4gh_keys.parse_private_key(stream, lambda: "")
    return secret


def _add_tree(archive: tarfile.TarFile, root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        info = archive.gettarinfo(str(path), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        if path.is_dir():
            archive.addfile(info)
            _add_tree(
                archive,
                root,
                [f"{name}/{child.name}" for child in sorted(path.iterdir(), key=lambda p: p.name)],
            )
        else:
            with path.open("rb") as handle:
                archive.addfile(info, handle)


def encrypt_release_tree(
    staging: Path,
    public_key: bytes,
    *,
    keep: tuple[str, ...] = ("manifest.json",),
    also_to: tuple[bytes, ...] = (),
) -> dict[str, Any]:
    """Pack every entry of ``staging`` but ``keep`` into ``release.tar.c4gh`` (Crypt4GH to
    ``public_key``, the project's, and to each key of ``also_to``: the data service's own, so
    htsget can serve the release) and delete the plaintext; return the manifest's
    ``encryption`` record.

    The tar stream is written to the encrypter through a pipe, never to disk in plaintext.
    """
    names = sorted(
        p.name
        for p in staging.iterdir()
        if p.name not in keep and p.name != ENCRYPTED_NAME and not p.name.startswith(".")
    )
    target = staging / ENCRYPTED_NAME
    read_fd, write_fd = os.pipe()
    sender = os.urandom(32)  # ephemeral sender key, as crypt4gh's own CLI does without --sk

    failures: list[BaseException] = []

    def pack() -> None:
        try:
            with (
                os.fdopen(write_fd, "wb") as sink,
                tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                _add_tree(tar, staging, names)
        except BaseException as exc:  # re-raised in the caller's thread below
            failures.append(exc)

    packer = threading.Thread(target=pack, name="crypt4gh-pack")
    packer.start()
    try:
        with os.fdopen(read_fd, "rb") as source, target.open("wb") as out:
            c4gh_lib.encrypt([(0, sender, key) for key in (public_key, *also_to)], source, out)
            out.flush()
            os.fsync(out.fileno())
    finally:
        packer.join()
    if failures:
        raise GenomlabError(
            f"{staging}: packing the release for encryption failed: {failures[0]}"
        ) from failures[0]
    for name in names:
        path = staging / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for hidden in staging.glob(".*"):  # e.g. the genotype digest's canonical scratch
        shutil.rmtree(hidden) if hidden.is_dir() else hidden.unlink()
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {
        "format": FORMAT,
        "file": ENCRYPTED_NAME,
        "sha256": digest.hexdigest(),
        "recipient": key_fingerprint(public_key),
        "also_to": [key_fingerprint(key) for key in also_to],
        "entries": names,
    }


def decrypt_stream(secret_key: bytes, source: IO[bytes], sink: IO[bytes]) -> None:
    """Decrypt a Crypt4GH stream with the recipient's raw secret key."""
    c4gh_lib.decrypt([(0, secret_key, None)], source, sink)


def get_member_scratch(config: GenomlabConfig, project: str, user: str) -> Path:
    """``<workspace>/scratch/<user>``, made 0700 (only the member's account reads it)."""
    if not user or "/" in user or user.startswith("."):
        raise GenomlabError(f"scratch of project {project}: bad user name {user!r}")
    folder = config.workspace_dir(project) / SCRATCH / user
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def decrypt_release(
    config: GenomlabConfig, project: str, user: str, release: Path, manifest: dict[str, Any]
) -> Path:
    """The member's decrypted copy of an encrypted release (made once per release id).

    Checks the ciphertext's sha256 against the manifest first; unpacks into a staging folder
    in the member's scratch and renames it into place, so a reader never sees half a copy.
    """
    encryption = manifest["encryption"]
    if encryption.get("format") != FORMAT:
        raise GenomlabError(
            f"{release}/manifest.json: encryption.format "
            f"{encryption.get('format')!r} is not {FORMAT}"
        )
    scratch = get_member_scratch(config, project, user)
    copy = scratch / f"release-{manifest['release_id']}"
    if (copy / "manifest.json").exists():
        return copy
    encrypted = release / str(encryption["file"])
    digest = hashlib.sha256()
    with encrypted.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != encryption["sha256"]:
        raise GenomlabError(
            f"{encrypted}: sha256 differs from manifest.json's "
            "encryption.sha256 (damaged or replaced)"
        )
    secret = _project_secret_key(config, project)
    staging = scratch / f".release-{manifest['release_id']}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(mode=0o700)
    try:
        read_fd, write_fd = os.pipe()

        failures: list[BaseException] = []

        def unpack() -> None:
            try:
                with (
                    os.fdopen(read_fd, "rb") as source,
                    tarfile.open(fileobj=source, mode="r|") as tar,
                ):
                    tar.extractall(staging, filter="data")
            except BaseException as exc:
                failures.append(exc)

        unpacker = threading.Thread(target=unpack, name="crypt4gh-unpack")
        unpacker.start()
        try:
            with encrypted.open("rb") as source, os.fdopen(write_fd, "wb") as sink:
                decrypt_stream(secret, source, sink)
        finally:
            unpacker.join()
        if failures:
            raise GenomlabError(f"{encrypted}: unpacking failed: {failures[0]}") from failures[0]
        shutil.copyfile(release / "manifest.json", staging / "manifest.json")
        os.replace(staging, copy)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    for old in scratch.glob("release-*"):
        if old != copy:
            shutil.rmtree(old, ignore_errors=True)
    return copy


def read_encrypted_member(encrypted: Path, secret_key: bytes, member: str) -> bytes:
    """One file of an encrypted release, decrypted in memory with a recipient's secret key
    (nothing is written to disk); NotFoundError if the release has no such file."""
    found: list[bytes] = []
    failures: list[BaseException] = []
    read_fd, write_fd = os.pipe()

    def unpack() -> None:
        try:
            with os.fdopen(read_fd, "rb") as source:
                with tarfile.open(fileobj=source, mode="r|") as tar:
                    for info in tar:
                        if info.name == member and info.isfile():
                            handle = tar.extractfile(info)
                            if handle is not None:
                                found.append(handle.read())
                for _ in iter(lambda: source.read(1 << 16), b""):
                    pass  # drain, so the decrypter never blocks on a full pipe
        except BaseException as exc:  # re-raised in the caller's thread below
            failures.append(exc)

    unpacker = threading.Thread(target=unpack, name="crypt4gh-member")
    unpacker.start()
    try:
        with encrypted.open("rb") as source, os.fdopen(write_fd, "wb") as sink:
            decrypt_stream(secret_key, source, sink)
    finally:
        unpacker.join()
    if failures:
        raise GenomlabError(f"{encrypted}: reading {member} failed: {failures[0]}") from (
            failures[0]
        )
    if not found:
        raise NotFoundError(f"{encrypted}: no {member} in the release")
    return found[0]


def data_service_release_key(config: GenomlabConfig) -> tuple[bytes, bytes]:
    """(secret, public) raw Crypt4GH key of the data service (its key folder, made once)."""
    from genomlab.institution import Institution

    secret = Institution(config, "data_service").keys().secret("crypt4gh-release", 32)
    return secret, bytes(c4gh_sodium.derive_pk(secret))
