"""Each institution's ledger head, anchored in another institution's ledger.

A signed ledger proves its history only to someone who trusts its key. An institution (or an
intruder holding its key) could rewrite its own history and sign it again, or swap the key and
sign everything anew; every local check would pass. So each institution's signed head is
recorded as a ``ledger.anchored`` event in a *partner's* ledger, which the rewriter does not
control: BfArM's platform anchors every other institution, and the trust centre anchors the
platform (the law keeps those two apart). :func:`find_anchor_faults` then checks every recorded
anchor against the anchored ledger as it is now: the event at the anchored sequence number must
still be there with the anchored hash (the hash covers the key id, so a swapped key shows too).

Anchoring runs after a batch of work (``genomlab ledger anchor``; the demo does it before it
verifies; in production from cron, like checkpoints). What happened after the last anchor is
protected by the signed head only. Like :mod:`genomlab.ledgers` this is a composition root: it
opens every institution's ledger.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.ledgers import open_ledger
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> for kind in ("platform", "trust_center", "data_service"):
...     _ = open_ledger(Institution(config, kind)).append(
...         "institution.initialised", {"institution": kind, "store": "sqlite"}, actor="op")
>>> [(a.institution, a.partner, a.seq) for a in anchor_heads(config)]
[('trust_center', 'platform', 1), ('data_service', 'platform', 1), ('platform', 'trust_center', 3)]
>>> anchor_heads(config)  # nothing new to anchor
[]
>>> find_anchor_faults(config)
[]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect

from genomlab.config import GenomlabConfig
from genomlab.db import get_engine
from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.institution import Institution, existing_institutions
from genomlab.keys import load_public_key
from genomlab.ledger import events_table, get_event, get_signed_head, iter_events
from genomlab.ledgers import open_ledger
from genomlab.trusted_keys import (
    KEY_ANCHORED_EVENT,
    KEY_OWNER,
    KEY_ROTATED_EVENT,
    TRUSTED_KEYS,
    compute_fingerprint,
    get_anchored_fingerprint,
    get_rotated_fingerprint,
)

if TYPE_CHECKING:
    from genomlab.platform.applications.workflow import ResignedApproval

ANCHOR_EVENT = "ledger.anchored"
ANCHOR_ACTOR = "ledger-anchor"


@dataclass(frozen=True)
class Anchor:
    """``institution``'s head at ``seq``/``hash`` as recorded in ``partner``'s ledger."""

    institution: str
    partner: str
    seq: int
    hash: str


def get_anchor_partner(institution: Institution) -> Institution:
    """Who anchors ``institution``: the trust centre for the platform, else the platform."""
    if institution.kind == "platform":
        return Institution(institution.config, "trust_center")
    return Institution(institution.config, "platform")


def anchor_heads(config: GenomlabConfig) -> list[Anchor]:
    """Record every institution's current signed head in its partner's ledger.

    The platform's head is anchored last (its ledger has just grown by the others' anchors).
    An institution with nothing but anchors since its last anchored head is skipped, so running
    this again is harmless.
    """
    anchor_trusted_keys(config)  # first, so that the heads anchored below cover them
    institutions = sorted(existing_institutions(config), key=lambda i: i.kind == "platform")
    done = []
    for institution in institutions:
        partner = get_anchor_partner(institution)
        if not partner.directory.is_dir():
            continue  # no partner in this home (a node-only home): nothing to anchor with
        engine = get_engine(institution.store_url)
        head = get_signed_head(engine)
        if head is None or _is_anchored(engine, _latest_anchored_seq(partner, institution.name)):
            continue
        open_ledger(partner).append(ANCHOR_EVENT, {
            "institution": institution.name, "seq": head["seq"], "hash": head["hash"],
            "key_id": head["key_id"], "recorded_at": head["recorded_at"]},
            actor=ANCHOR_ACTOR, stream=institution.name)
        done.append(Anchor(institution.name, partner.name, head["seq"], head["hash"]))
    return done


def _is_anchored(engine: Engine, anchored_seq: int | None) -> bool:
    """True if nothing but anchors of other ledgers came after ``anchored_seq`` (anchoring
    those would make two partners anchor each other's anchors for ever)."""
    if anchored_seq is None:
        return False
    return all(e.type in (ANCHOR_EVENT, KEY_ANCHORED_EVENT)
               for e in iter_events(engine, since=anchored_seq))


def _latest_anchored_seq(partner: Institution, name: str) -> int | None:
    anchors = list(iter_events(get_engine(partner.store_url), type=ANCHOR_EVENT, stream=name))
    return int(anchors[-1].payload["seq"]) if anchors else None


def find_anchor_faults(config: GenomlabConfig) -> list[str]:
    """One line per anchor that the anchored ledger no longer matches (empty: all hold)."""
    by_name = {i.name: i for i in existing_institutions(config)}
    faults = []
    for partner in by_name.values():
        for event in iter_events(get_engine(partner.store_url), type=ANCHOR_EVENT):
            anchored = event.payload
            institution = by_name.get(anchored["institution"])
            where = (f"{anchored['institution']}: the head anchored by {partner.name} "
                     f"(its event {event.seq}, {event.recorded_at[:19]}) at seq {anchored['seq']}")
            if institution is None:
                faults.append(f"{where}: the institution's store is gone")
                continue
            now = get_event(get_engine(institution.store_url), anchored["seq"])
            if now is None:
                faults.append(f"{where}: that event is missing now")
            elif now.hash != anchored["hash"]:
                faults.append(f"{where}: the event there differs now (history rewritten"
                              + (", key changed)" if now.key_id != anchored["key_id"] else ")"))
    return faults


@dataclass(frozen=True)
class KeyAnchor:
    """The fingerprint of ``owner``'s key ``key`` as recorded in ``holder``'s ledger."""

    holder: str
    owner: str
    key: str
    fingerprint: str
    replaces: str = ""


def get_signing_key_fingerprint(owner: Institution, key: str) -> str | None:
    """The fingerprint of ``owner``'s signing key ``key`` derived from its private key file
    (what actually signs; a swapped ``.pub.pem`` does not change it), or ``None`` if the
    owner has no such key (nothing is created)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = owner.directory / "keys" / f"{key}.ed25519.pem"
    if not path.exists():
        return None
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return compute_fingerprint(private.public_key())


def get_recorded_rotations(config: GenomlabConfig, key: str) -> dict[str, str]:
    """The owner's recorded rotations of ``key`` (``key.rotated`` in the platform's ledger):
    old fingerprint -> new fingerprint, the latest record winning."""
    owner = Institution(config, KEY_OWNER)
    engine = get_engine(owner.store_url)
    if not inspect(engine).has_table(events_table.name):
        return {}
    return {str(e.payload["old_fingerprint"]): str(e.payload["new_fingerprint"])
            for e in iter_events(engine, type=KEY_ROTATED_EVENT)
            if e.payload.get("key") == key}


def _is_rotated_to(anchored: str, current: str, rotations: dict[str, str]) -> bool:
    """Whether recorded rotations lead from ``anchored`` to ``current``."""
    seen = {anchored}
    while anchored in rotations and anchored != current:
        anchored = rotations[anchored]
        if anchored in seen:
            return False
        seen.add(anchored)
    return anchored == current


def get_missing_key_anchors(config: GenomlabConfig) -> list[KeyAnchor]:
    """The ``key.anchored`` events :func:`anchor_trusted_keys` would record now (nothing is
    written): each of the platform's trusted keys that exists, for each other institution of
    the home that has no fingerprint of it anchored (first anchoring), or has one that the
    platform's recorded rotations (``key.rotated``) lead from to the current key (then
    ``replaces`` names it). A holder anchored to any other fingerprint is left alone: a key
    pair swapped without a recorded rotation never becomes trusted."""
    owner = Institution(config, KEY_OWNER)
    if not owner.directory.is_dir():
        return []
    missing = []
    for key in TRUSTED_KEYS:
        fingerprint = get_signing_key_fingerprint(owner, key)
        if fingerprint is None:
            continue
        rotations: dict[str, str] | None = None
        for holder in existing_institutions(config):
            if holder.kind == KEY_OWNER:
                continue
            anchored = get_anchored_fingerprint(holder, key)
            if anchored is None:
                missing.append(KeyAnchor(holder.name, KEY_OWNER, key, fingerprint))
                continue
            if anchored == fingerprint:
                continue
            if rotations is None:
                rotations = get_recorded_rotations(config, key)
            if _is_rotated_to(anchored, fingerprint, rotations):
                missing.append(KeyAnchor(holder.name, KEY_OWNER, key, fingerprint, anchored))
    return missing


def anchor_trusted_keys(config: GenomlabConfig) -> list[KeyAnchor]:
    """Record the fingerprint of each of the platform's trusted keys (:data:`TRUSTED_KEYS`) in
    the ledger of every other institution of the home that has none anchored yet, or whose
    anchored one the platform has rotated away from (:func:`get_missing_key_anchors`).

    A key already anchored is never re-anchored here without a recorded rotation, also when it
    differs now: a swapped key pair must not become trusted by the next anchoring run
    (:func:`find_key_faults` reports it); a deliberate rotation is
    :func:`rotate_platform_key`, a recorded decision. Running this again completes a rotation
    that stopped before the re-anchoring.
    """
    by_name = {i.name: i for i in existing_institutions(config)}
    for anchor in (missing := get_missing_key_anchors(config)):
        payload = {"institution": anchor.owner, "key": anchor.key,
                   "fingerprint": anchor.fingerprint}
        if anchor.replaces:
            payload["replaces"] = anchor.replaces
        open_ledger(by_name[anchor.holder]).append(KEY_ANCHORED_EVENT, payload,
                                                   actor=ANCHOR_ACTOR, stream=anchor.owner)
    return missing


@dataclass(frozen=True)
class KeyRotation:
    """The platform's key ``key`` replaced: ``old`` -> ``new`` fingerprint, and the holders'
    re-anchorings."""

    key: str
    old: str
    new: str
    anchors: list[KeyAnchor]
    resigned: list[ResignedApproval] = field(default_factory=list)


def _replace_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically replace ``path`` (keeping its owner and group) with ``data`` at ``mode``."""
    info = path.stat() if path.exists() else None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.rotate.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if info is not None and os.geteuid() == 0:
            os.chown(tmp, info.st_uid, info.st_gid)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def rotate_platform_key(config: GenomlabConfig, key: str, *, actor: str,
                        reason: str) -> KeyRotation:
    """Replace the platform's signing key ``key`` (``oauth`` or ``approval``) by a new pair.

    In this order: the decision is recorded as ``key.rotated`` {key, old and new fingerprint,
    reason} in the platform's ledger; the key files are replaced (private 0600, public 0644,
    owners kept; for ``oauth`` also the published copy in ``<home>/services/`` if there is
    one); the new fingerprint is anchored in every other institution's ledger
    (:func:`anchor_trusted_keys`, ``replaces`` naming the old one); for ``approval``, every
    approval still in force is signed again with the new key (:func:`resign_approvals`). The
    old private key is gone: tokens, revoked or ended approvals and revocations it signed stop
    verifying. Running services take the new key at their next use of it, since its
    fingerprint is anchored in their ledgers (:class:`genomlab.trusted_keys.TrustedKeyFile`);
    a stop after the record is completed by ``genomlab ledger anchor``.

    Raises
    ------
    ValidationFailed
        ``key`` is not one of :data:`TRUSTED_KEYS`.
    NotFoundError
        The platform has no such key yet (nothing to rotate; it is made at first use).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from genomlab.clients.platform import get_published_token_key
    from genomlab.keys import public_key_pem

    if key not in TRUSTED_KEYS:
        raise ValidationFailed(f"rotate-key: field KEY: {key!r} is not a trusted platform key "
                               f"(one of {', '.join(TRUSTED_KEYS)})")
    owner = Institution(config, KEY_OWNER)
    private_path = owner.directory / "keys" / f"{key}.ed25519.pem"
    old = get_signing_key_fingerprint(owner, key)
    if old is None:
        raise NotFoundError(f"{private_path}: the platform has no {TRUSTED_KEYS[key]} to rotate")
    fresh = Ed25519PrivateKey.generate()
    new = compute_fingerprint(fresh.public_key())
    open_ledger(owner).append(KEY_ROTATED_EVENT, {
        "key": key, "old_fingerprint": old, "new_fingerprint": new, "reason": reason},
        actor=actor, stream=f"key:{key}")
    _replace_file(private_path, fresh.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    public = public_key_pem(fresh.public_key())
    _replace_file(owner.directory / "keys" / f"{key}.pub.pem", public, 0o644)
    published = get_published_token_key(config)
    if key == "oauth" and published.exists():
        _replace_file(published, public, 0o644)
    anchors = [a for a in anchor_trusted_keys(config) if a.key == key]
    resigned = resign_approvals(config, actor=actor) if key == "approval" else []
    return KeyRotation(key, old, new, anchors, resigned)


def resign_approvals(config: GenomlabConfig, *, actor: str) -> list[ResignedApproval]:
    """Sign the platform's approvals in force again with its current approval key, where a
    recorded rotation replaced the key that signed them (``approval.resigned`` in the
    platform's ledger; :meth:`~genomlab.platform.applications.workflow.Workflow.
    resign_approvals`). The last step of :func:`rotate_platform_key` for the approval key;
    ``genomlab ledger anchor`` runs it too, so a rotation stopped before it is completed.
    Nothing happens in a home without the platform or its approval key, or whose approval key
    was never rotated.

    Raises
    ------
    PermissionDenied
        The approval key file is not the key of the latest recorded rotation.
    """
    from genomlab.platform.applications.workflow import Workflow

    owner = Institution(config, KEY_OWNER)
    if (not owner.directory.is_dir() or get_signing_key_fingerprint(owner, "approval") is None
            or get_rotated_fingerprint(owner, "approval") is None):
        return []  # read only: the platform's workflow is not opened
    return Workflow(config).resign_approvals(actor)


def get_trusted_key_files(config: GenomlabConfig, key: str) -> list[str]:
    """Every file a service may load the platform's public key ``key`` from."""
    from genomlab.clients.platform import get_published_token_key

    files = [str(Institution(config, KEY_OWNER).directory / "keys" / f"{key}.pub.pem")]
    if key == "oauth":
        files.insert(0, str(get_published_token_key(config)))
    return files


def find_key_faults(config: GenomlabConfig) -> list[str]:
    """One line per trusted key (file or signing key) that differs from the fingerprint
    anchored for it (empty: every trusted key is the anchored one). Each file is named once,
    with the first holder that anchored it (the trust centre before the others)."""
    owner = Institution(config, KEY_OWNER)
    holders = sorted((i for i in existing_institutions(config) if i.kind != KEY_OWNER),
                     key=lambda i: i.kind != "trust_center")
    faults: list[str] = []
    reported: set[tuple[str, str]] = set()
    for key in TRUSTED_KEYS:
        for holder in holders:
            expected = get_anchored_fingerprint(holder, key)
            if expected is None:
                continue
            found: dict[str, str] = {}
            signing = get_signing_key_fingerprint(owner, key)
            if signing is not None:
                found[str(owner.directory / "keys" / f"{key}.ed25519.pem")] = signing
            for name in get_trusted_key_files(config, key):
                if Path(name).exists():
                    try:
                        found[name] = compute_fingerprint(load_public_key(
                            Path(name).read_bytes()))
                    except ValueError as exc:
                        found[name] = f"unreadable ({exc})"
            for name, fingerprint in found.items():
                if fingerprint != expected and (name, expected) not in reported:
                    reported.add((name, expected))
                    faults.append(f"{name}: the {KEY_OWNER}'s {TRUSTED_KEYS[key]} ({key}) is not "
                                  f"the key anchored in {holder.name}'s ledger (expected "
                                  f"{expected}, found {fingerprint})")
    return faults
