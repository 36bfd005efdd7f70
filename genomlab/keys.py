"""Key material of one institution instance, behind a provider interface.

:class:`FileKeyProvider` keeps keys as 0600 files in a 0700 folder under the institution's home
folder. A KMS or HSM replaces it by implementing :class:`KeyProvider`; nothing else changes.
Keys are created on first use; concurrent first use by two processes yields one key (the file is
written aside and hard-linked into place, so the loser reads the winner's key).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyProvider(Protocol):
    """Where an institution's keys come from."""

    def signing_key(self, name: str = "ledger") -> Ed25519PrivateKey:
        """The Ed25519 private key called ``name`` (created on first use)."""
        ...

    def secret(self, name: str, size: int = 32) -> bytes:
        """A symmetric secret called ``name`` of ``size`` bytes (created on first use)."""
        ...


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable identifier of a public key: 16 hex digits of sha256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _write_exclusive(path: Path, data: bytes, mode: int) -> bytes:
    """Write ``data`` to ``path`` unless it exists; return what ``path`` holds afterwards."""
    if path.exists():
        return path.read_bytes()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


class FileKeyProvider:
    """Keys as files: ``<name>.ed25519.pem`` and ``<name>.secret`` (0600), ``<name>.pub.pem``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def signing_key(self, name: str = "ledger") -> Ed25519PrivateKey:
        path = self.directory / f"{name}.ed25519.pem"
        if not path.exists():
            self._ensure_dir()
            fresh = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_exclusive(path, fresh, 0o600)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        pub = self.directory / f"{name}.pub.pem"
        if not pub.exists():
            _write_exclusive(pub, public_key_pem(key.public_key()), 0o644)
        return key

    def public_key(self, name: str = "ledger") -> Ed25519PublicKey:
        return self.signing_key(name).public_key()

    def public_key_path(self, name: str = "ledger") -> Path:
        self.signing_key(name)
        return self.directory / f"{name}.pub.pem"

    def secret(self, name: str, size: int = 32) -> bytes:
        path = self.directory / f"{name}.secret"
        if not path.exists():
            self._ensure_dir()
            _write_exclusive(path, secrets.token_bytes(size), 0o600)
        value = path.read_bytes()
        if len(value) != size:
            raise ValueError(f"{path}: expected {size} bytes of key material, found {len(value)}")
        return value
