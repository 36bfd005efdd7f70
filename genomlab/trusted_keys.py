"""Trusted public keys, checked against fingerprints anchored in the truster's own ledger.

A service trusts public keys of another institution: the platform's access-token key (every
service that checks platform tokens) and its approval key (the trust centre, for approvals and
revocations). Those are files (``<home>/services/platform.token-key.pub.pem``,
``platform/keys/*.pub.pem``) that an intruder could swap. So the fingerprint of each trusted
key (sha256 over its raw bytes) is recorded as a ``key.anchored`` event in the ledger of every
institution that trusts it, written by the anchoring run
(:func:`genomlab.anchors.anchor_trusted_keys`, from the owner's *signing* key, not from a
public file) and itself covered by that ledger's signed head, which the platform anchors in
turn. :func:`load_trusted_key` checks a loaded key against the anchored fingerprint and refuses
a mismatch, naming the file and both fingerprints. A running service holds such a key as a
:class:`TrustedKeyFile` (a rotation anchored in its ledger is taken up without a restart, an
unrecorded swap never), the owner's own service its signing key as an :class:`OwnSigningKey`.
Neutral module: it reads a ledger, nothing else.

Examples
--------
>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> compute_fingerprint(Ed25519PrivateKey.generate().public_key()).startswith("sha256:")
True
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import inspect

from genomlab.db import get_engine
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.keys import load_public_key
from genomlab.ledger import events_table, iter_events

LOG = logging.getLogger(__name__)
KEY_ANCHORED_EVENT = "key.anchored"
KEY_ROTATED_EVENT = "key.rotated"
KEY_OWNER: Final = "platform"
TRUSTED_KEYS: dict[str, str] = {
    "oauth": "access-token key",
    "approval": "approval key",
}
"""The platform's keys other institutions trust: key name → what it signs."""


class TrustedKeyMismatch(PermissionDenied):
    """A trusted public-key file does not hold the key whose fingerprint is anchored."""


class TrustedKeyNotAnchored(PermissionDenied):
    """A service would trust a key whose fingerprint was never anchored in its own ledger."""


ANCHOR_COMMAND = "genomlab ledger anchor"
"""What the operator runs to anchor the trusted keys (``deploy setup`` and ``serve all`` do)."""


def require_anchored_keys(holder: Institution, keys: list[str],
                          owner: str = KEY_OWNER) -> None:
    """Raise :class:`TrustedKeyNotAnchored` unless each of ``owner``'s ``keys`` has a
    fingerprint anchored in ``holder``'s ledger: a service checks this at its start, so that it
    never starts trusting whatever key file it finds (trust on first anchoring, not on first
    use). The message names the holder, the keys and the command that anchors them."""
    missing = [key for key in keys if get_anchored_fingerprint(holder, key, owner) is None]
    if missing:
        names = ", ".join(f"{TRUSTED_KEYS.get(key, key)} ({key})" for key in missing)
        raise TrustedKeyNotAnchored(
            f"{holder.name}: no fingerprint of the {owner}'s {names} is anchored in "
            f"{holder.name}'s ledger, so a swapped key file could not be detected; refusing to "
            f"start: run `{ANCHOR_COMMAND}` as the operator first (`genomlab deploy setup` and "
            "`genomlab serve all` do it)")


def compute_fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:<64 hex>`` over the key's raw 32 bytes (the full digest, unlike ``key_id``)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def get_anchored_fingerprint(holder: Institution, key: str,
                             owner: str = KEY_OWNER) -> str | None:
    """The latest fingerprint of ``owner``'s key ``key`` anchored in ``holder``'s ledger, or
    ``None`` if none was ever anchored there (or ``holder`` has no store yet)."""
    if not holder.directory.is_dir():
        return None
    engine = get_engine(holder.store_url)
    if not inspect(engine).has_table(events_table.name):
        return None
    found = None
    for event in iter_events(engine, type=KEY_ANCHORED_EVENT, stream=owner):
        if event.payload.get("key") == key:
            found = str(event.payload["fingerprint"])
    return found


def check_trusted_key(public_key: Ed25519PublicKey, path: Path, *, key: str,
                      holder: Institution, owner: str = KEY_OWNER) -> None:
    """Raise :class:`TrustedKeyMismatch` if ``public_key`` (read from ``path``) is not the one
    anchored in ``holder``'s ledger; a key never anchored there passes (see the module doc)."""
    expected = get_anchored_fingerprint(holder, key, owner)
    if expected is None:
        return
    found = compute_fingerprint(public_key)
    if found != expected:
        raise TrustedKeyMismatch(
            f"{path}: the {owner}'s {TRUSTED_KEYS.get(key, key)} ({key}) is not the key "
            f"anchored in {holder.name}'s ledger (expected {expected}, found {found}); "
            "refused: the trusted key file was swapped")


def load_trusted_key(path: Path, *, key: str, holder: Institution,
                     owner: str = KEY_OWNER) -> Ed25519PublicKey:
    """The public key in ``path`` after :func:`check_trusted_key`."""
    public_key = load_public_key(path.read_bytes())
    check_trusted_key(public_key, path, key=key, holder=holder, owner=owner)
    return public_key


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What changes when ``path`` is replaced or rewritten (one ``stat``), ``None`` if gone."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)


class TrustedKeyFile:
    """A trusted public key as a running service holds it: taken up again after a rotation,
    never after an unrecorded swap.

    At start it is :func:`load_trusted_key` (a swapped file raises). At each use
    (:meth:`current`) the file is ``stat``-ed (a microsecond); when it changed, or a token
    names another key (``key_id``), or the last re-read was refused, the file is read again and
    its key taken only if its fingerprint is the one anchored in ``holder``'s ledger now (the
    owner's rotation re-anchors it there: :func:`genomlab.anchors.rotate_platform_key`). A
    file whose key is not anchored is refused (logged once, naming the file and both
    fingerprints) and the key in use is kept while it is still the anchored one; if the
    anchored fingerprint moved on and the file does not hold it, :meth:`current` raises
    :class:`TrustedKeyMismatch`: no key is trusted until the file holds the anchored one.
    Thread-safe.
    """

    def __init__(self, path: Path, *, key: str, holder: Institution,
                 owner: str = KEY_OWNER) -> None:
        self.path = path
        self.key = key
        self.holder = holder
        self.owner = owner
        self._lock = threading.Lock()
        self._stamp = _stamp(path)
        self._key: Ed25519PublicKey | None = load_trusted_key(path, key=key, holder=holder,
                                                               owner=owner)
        self._key_id = _key_id(self._key)
        self._refusal = ""

    def current(self, key_id: str | None = None) -> Ed25519PublicKey:
        """The trusted key now; ``key_id`` (of a token's ``kid``) other than the key in use
        makes the file be read again. Raises :class:`TrustedKeyMismatch` (see the class)."""
        stamp = _stamp(self.path)
        if (stamp != self._stamp or self._refusal
                or (key_id is not None and key_id != self._key_id)):
            self._reload(stamp)
        if self._key is None:
            raise TrustedKeyMismatch(self._refusal)
        return self._key

    def _reload(self, stamp: tuple[int, int, int, int] | None) -> None:
        with self._lock:
            self._stamp = stamp
            in_use = None if self._key is None else compute_fingerprint(self._key)
            found: Ed25519PublicKey | None = None
            try:
                found = load_public_key(self.path.read_bytes())
            except (OSError, ValueError) as exc:
                why = f"{self.path}: unreadable ({exc})"
            fingerprint = None if found is None else compute_fingerprint(found)
            if fingerprint == in_use and in_use is not None and not self._refusal:
                return  # the same key (a rewritten file, or a token naming another key)
            anchored = get_anchored_fingerprint(self.holder, self.key, self.owner)
            if found is not None and anchored is not None and fingerprint == anchored:
                if fingerprint != in_use:
                    LOG.warning("%s: the %s's %s (%s) is now %s (anchored in %s's ledger)",
                                self.path, self.owner, TRUSTED_KEYS.get(self.key, self.key),
                                self.key, fingerprint, self.holder.name)
                self._key, self._key_id, self._refusal = found, _key_id(found), ""
                return
            if found is not None and fingerprint == in_use and anchored is None:
                self._refusal = ""  # never anchored (not a service), the same key again
                return
            if found is not None:
                why = (f"{self.path}: the {self.owner}'s {TRUSTED_KEYS.get(self.key, self.key)} "
                       f"({self.key}) is not the key anchored in {self.holder.name}'s ledger "
                       f"(expected {anchored or 'none anchored'}, found {fingerprint}); "
                       "refused: the trusted key file was swapped")
            if why != self._refusal:
                LOG.error("%s", why)
            self._refusal = why
            if anchored is not None and anchored != in_use:
                self._key = None  # the key in use is no longer the anchored one either


def _key_id(public_key: Ed25519PublicKey) -> str:
    return compute_fingerprint(public_key).removeprefix("sha256:")[:16]


def get_rotated_fingerprint(owner: Institution, key: str) -> str | None:
    """The new fingerprint of the latest recorded rotation of ``owner``'s key ``key``
    (``key.rotated`` in the owner's own ledger), ``None`` if it was never rotated."""
    engine = get_engine(owner.store_url)
    if not inspect(engine).has_table(events_table.name):
        return None
    found = None
    for event in iter_events(engine, type=KEY_ROTATED_EVENT):
        if event.payload.get("key") == key:
            found = str(event.payload["new_fingerprint"])
    return found


class OwnSigningKey:
    """The owner's signing key ``key`` as the owner's running service holds it: taken up again
    after a recorded rotation, never after an unrecorded swap.

    At each use (:meth:`current`) the private key file is ``stat``-ed; when it changed, it is
    read again and its key taken only if its fingerprint is the new one of the latest
    ``key.rotated`` in the owner's own ledger (:func:`get_rotated_fingerprint`); otherwise the
    key in use stays (logged once, naming the file and the fingerprints) and the file is
    checked again at every use until it holds the key in use or the recorded one.
    Thread-safe.
    """

    def __init__(self, owner: Institution, key: str) -> None:
        self.owner = owner
        self.key = key
        self.path = owner.directory / "keys" / f"{key}.ed25519.pem"
        self._lock = threading.Lock()
        self._use(owner.keys().signing_key(key))  # made at first use
        self._stamp = _stamp(self.path)
        self._refusal = ""

    def _use(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key()
        """The public half of the key in use."""
        self.fingerprint = compute_fingerprint(self.public_key)
        self.key_id = self.fingerprint.removeprefix("sha256:")[:16]
        """What a token's ``kid`` names (:func:`genomlab.keys.key_id`)."""

    def current(self) -> Ed25519PrivateKey:
        """The signing key now (see the class)."""
        stamp = _stamp(self.path)
        if stamp != self._stamp or self._refusal:
            self._reload(stamp)
        return self._private

    def _reload(self, stamp: tuple[int, int, int, int] | None) -> None:
        with self._lock:
            self._stamp = stamp
            try:
                fresh = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
            except (OSError, ValueError) as exc:
                self._refuse(f"{self.path}: unreadable ({exc}); the key in use stays")
                return
            if not isinstance(fresh, Ed25519PrivateKey):
                self._refuse(f"{self.path}: not an Ed25519 private key; the key in use stays")
                return
            fingerprint = compute_fingerprint(fresh.public_key())
            if fingerprint == self.fingerprint:
                self._refusal = ""
                return
            recorded = get_rotated_fingerprint(self.owner, self.key)
            if fingerprint == recorded:
                LOG.warning("%s: the %s's %s is now %s (key.rotated in its ledger)", self.path,
                            self.owner.name, self.key, fingerprint)
                self._use(fresh)
                self._refusal = ""
                return
            self._refuse(f"{self.path}: {fingerprint} is not the key of a recorded rotation "
                         f"(latest: {recorded or 'none'}); refused: the key in use "
                         f"{self.fingerprint} stays")

    def _refuse(self, why: str) -> None:
        if why != self._refusal:
            LOG.error("%s", why)
        self._refusal = why
