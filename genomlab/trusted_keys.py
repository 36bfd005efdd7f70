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
a mismatch, naming the file and both fingerprints.
Neutral module: it reads a ledger, nothing else.

Examples
--------
>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> compute_fingerprint(Ed25519PrivateKey.generate().public_key()).startswith("sha256:")
True
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import inspect

from genomlab.db import get_engine
from genomlab.errors import PermissionDenied
from genomlab.institution import Institution
from genomlab.keys import load_public_key
from genomlab.ledger import events_table, iter_events

KEY_ANCHORED_EVENT = "key.anchored"
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
