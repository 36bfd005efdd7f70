"""``genomlab ledger verify`` catches the four ledger attacks of the services issue.

A home with the platform (people, roles, datasets), the trust centre and a GRZ is anchored
(``genomlab ledger anchor``: the platform records the others' signed heads, the trust centre the
platform's). Then, behind the ledgers' backs, as an intruder with a shell in the institution's
folder would:

1. delete the newest events (no checkpoint covers them): the signed head catches it;
2. insert a row into a table that authorisation reads: the replay of the events catches it;
3. swap the GRZ's key pair and sign its whole history again with the new key: every local
   check passes, the platform's anchor catches it; the same for the platform's ledger key
   pair, whose heads the trust centre anchors (the key another party trusts), caught by the
   trust centre's anchor;
4. rewrite an early platform event and sign the history again with the platform's own key:
   every local check passes, the trust centre's anchor catches it;
5. swap a trusted public-key file (the platform's published token key, its token or approval
   key in its key folder) or the whole key pair: the fingerprints ``ledger anchor`` recorded in
   the trusting institutions' ledgers catch it (``BROKEN trusted key``), and a later anchoring
   run does not anchor the swapped key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete, insert, select, update

from genomlab.anchors import get_signing_key_fingerprint
from genomlab.cli import main
from genomlab.clients.platform import get_published_token_key
from genomlab.config import GenomlabConfig
from genomlab.db import dispose_engines, get_engine
from genomlab.institution import Institution
from genomlab.keys import FileKeyProvider, key_id, public_key_pem
from genomlab.ledger import (
    _event_digest,
    checkpoints_table,
    events_table,
    head_table,
    sign_head,
)
from genomlab.ledgers import open_ledger
from genomlab.platform.applications import Workflow
from genomlab.trusted_keys import compute_fingerprint
from tests.platform.conftest import populate

GRZ = "GRZK00001"


def run_cli(config: GenomlabConfig, *args: str) -> Result:
    dispose_engines()  # the CLI sees the stores as they are on disk now
    return CliRunner().invoke(main, list(args), env={"GENOMLAB_HOME": str(config.home)})


@pytest.fixture
def anchored_home(config: GenomlabConfig) -> GenomlabConfig:
    populate(Workflow(config))
    keys = Institution(config, "platform").keys()  # the token key, published as the service does
    get_published_token_key(config).parent.mkdir(parents=True, exist_ok=True)
    get_published_token_key(config).write_bytes(keys.public_key_path("oauth").read_bytes())
    keys.signing_key("approval")
    for institution in (Institution(config, "trust_center"), Institution(config, "grz", GRZ)):
        ledger = open_ledger(institution)
        for _ in range(3):
            ledger.append("institution.initialised",
                          {"institution": institution.name, "store": "sqlite"}, actor="op")
    anchored = run_cli(config, "ledger", "anchor")
    assert anchored.exit_code == 0, anchored.output
    assert anchored.output.splitlines()[-1] == "3 head(s) anchored"
    assert sum(" key sha256:" in line for line in anchored.output.splitlines()) == 4  # 2 x 2
    return config


def resign_history(engine: Engine, signing_key: Ed25519PrivateKey,
                   edit: dict[int, dict[str, Any]]) -> None:
    """Rewrite the ledger as its key holder could: apply ``edit`` (seq → new column values),
    recompute every hash, link and signature with ``signing_key``, re-sign the head."""
    kid = key_id(signing_key.public_key())
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(events_table).order_by("seq"))]
        conn.execute(delete(checkpoints_table))
        prev = "0" * 64
        for row in rows:
            row.update(edit.get(row["seq"], {}), prev_hash=prev, key_id=kid)
            digest = _event_digest(row["seq"], row["recorded_at"], row["actor"], row["type"],
                                   row["stream"], prev, kid, row["payload"])
            row.update(hash=digest.hex(),
                       signature=base64.b64encode(signing_key.sign(digest)).decode())
            conn.execute(update(events_table).where(events_table.c.seq == row["seq"])
                         .values(**row))
            prev = row["hash"]
        last = rows[-1]
        conn.execute(update(head_table).where(head_table.c.id == 1).values(
            **sign_head(signing_key, last["seq"], last["hash"], last["recorded_at"])))


def swap_ledger_key_pair(institution: Institution) -> Ed25519PrivateKey:
    """Replace ``institution``'s ledger key pair in its key folder with a new one (returned)
    and sign its whole history again with it, as an intruder in that folder could."""
    new_key = Ed25519PrivateKey.generate()
    resign_history(get_engine(institution.store_url), new_key, edit={})
    keys = institution.directory / "keys"
    (keys / "ledger.ed25519.pem").write_bytes(new_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (keys / "ledger.pub.pem").write_bytes(public_key_pem(new_key.public_key()))
    return new_key


def test_ledger_verify__anchored_home_is_intact(anchored_home: GenomlabConfig) -> None:
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 0, verified.output
    assert "BROKEN" not in verified.output


def test_ledger_verify__deleting_the_newest_events_is_caught(anchored_home: GenomlabConfig
                                                             ) -> None:
    engine = get_engine(anchored_home.store_url("platform"))
    with engine.begin() as conn:
        last = conn.execute(select(events_table.c.seq).order_by(events_table.c.seq.desc())
                            ).scalars().first()
        conn.execute(delete(events_table).where(events_table.c.seq > last - 2))
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    assert (f"platform: BROKEN at seq {last - 1}: events {last - 1} to {last} are missing "
            f"(the signed head covers events up to {last})") in verified.output


def test_ledger_verify__a_role_row_inserted_behind_the_ledger_is_caught(
        anchored_home: GenomlabConfig) -> None:
    from genomlab.platform.applications.projection import roles

    engine = get_engine(anchored_home.store_url("platform"))
    with engine.begin() as conn:  # alice, a researcher, becomes a decider
        conn.execute(insert(roles).values(user_id="alice", role="decider", granted_by="root",
                                          granted_at="2026-11-01T00:00:00+00:00"))
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    assert ("platform: BROKEN: tables differ from what the events imply: app_roles"
            in verified.output.splitlines())


def test_ledger_verify__a_swapped_key_and_resigned_history_is_caught_by_the_anchor(
        anchored_home: GenomlabConfig) -> None:
    swap_ledger_key_pair(Institution(anchored_home, "grz", GRZ))
    alone = run_cli(anchored_home, "ledger", "verify", "-i", f"grz:{GRZ}")
    assert alone.exit_code == 0, alone.output  # locally consistent: only the anchor can tell
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    broken = [line for line in verified.output.splitlines() if line.startswith("BROKEN anchor")]
    assert len(broken) == 1, verified.output
    assert broken[0].startswith(f"BROKEN anchor: grz:{GRZ}: the head anchored by platform")
    assert broken[0].endswith("the event there differs now (history rewritten, key changed)")


def test_ledger_verify__history_resigned_with_the_own_key_is_caught_by_the_anchor(
        anchored_home: GenomlabConfig) -> None:
    platform = Institution(anchored_home, "platform")
    engine = get_engine(platform.store_url)
    with engine.begin() as conn:  # the first role grant now names mallory
        grant = conn.execute(select(events_table)
                             .where(events_table.c.type == "platform.role.granted")
                             .order_by(events_table.c.seq)).first()
    assert grant is not None
    payload = {**json.loads(grant.payload), "user_id": "mallory"}
    own_key = FileKeyProvider(platform.directory / "keys").signing_key("ledger")
    resign_history(engine, own_key, edit={grant.seq: {
        "payload": json.dumps(payload, sort_keys=True, separators=(",", ":"))}})
    alone = run_cli(anchored_home, "ledger", "verify", "-i", "platform")
    assert "platform: ok" in alone.output  # events, checkpoints and head all verify
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    broken = [line for line in verified.output.splitlines() if line.startswith("BROKEN anchor")]
    assert len(broken) == 1, verified.output
    assert broken[0].startswith("BROKEN anchor: platform: the head anchored by trust_center")
    assert broken[0].endswith("the event there differs now (history rewritten)")


def test_ledger_verify__the_platforms_swapped_ledger_key_is_caught_by_the_trust_centres_anchor(
        anchored_home: GenomlabConfig) -> None:
    """The platform's ledger public key is the one the trust centre's anchors of the platform's
    heads rely on: an intruder in the platform's folder swaps the pair and signs the platform's
    history again with the new key. The platform alone verifies; the whole home reports the
    trust centre's anchor, and only it (the platform's own anchors of the others still hold)."""
    swap_ledger_key_pair(Institution(anchored_home, "platform"))
    alone = run_cli(anchored_home, "ledger", "verify", "-i", "platform")
    assert alone.exit_code == 0, alone.output  # locally consistent: only the anchor can tell
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    broken = [line for line in verified.output.splitlines() if line.startswith("BROKEN anchor")]
    assert len(broken) == 1, verified.output
    assert broken[0].startswith("BROKEN anchor: platform: the head anchored by trust_center")
    assert broken[0].endswith("the event there differs now (history rewritten, key changed)")


def _trusted_key_file(config: GenomlabConfig, which: str) -> Any:
    keys = Institution(config, "platform").directory / "keys"
    return {"published token key": get_published_token_key(config),
            "token key": keys / "oauth.pub.pem", "approval key": keys / "approval.pub.pem"}[which]


@pytest.mark.parametrize("which", ["published token key", "token key", "approval key"])
def test_ledger_verify__a_swapped_trusted_key_file_is_caught(anchored_home: GenomlabConfig,
                                                             which: str) -> None:
    path = _trusted_key_file(anchored_home, which)
    key = "approval" if which == "approval key" else "oauth"
    expected = get_signing_key_fingerprint(Institution(anchored_home, "platform"), key)
    attacker = Ed25519PrivateKey.generate()
    path.write_bytes(public_key_pem(attacker.public_key()))
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    broken = [line for line in verified.output.splitlines() if "BROKEN" in line]
    what = "approval key (approval)" if key == "approval" else "access-token key (oauth)"
    assert broken == [
        f"BROKEN trusted key: {path}: the platform's {what} is not the key anchored in "
        f"trust_center's ledger (expected {expected}, found "
        f"{compute_fingerprint(attacker.public_key())})"], verified.output


def test_anchor_trusted_keys__a_swapped_key_pair_is_not_anchored_again(
        anchored_home: GenomlabConfig) -> None:
    """An intruder in the platform's key folder swaps the approval key pair (private and
    public): the next ``ledger anchor`` keeps the anchored fingerprint (it does not trust the
    new pair), and ``ledger verify`` names both swapped files."""
    keys = Institution(anchored_home, "platform").directory / "keys"
    expected = get_signing_key_fingerprint(Institution(anchored_home, "platform"), "approval")
    attacker = Ed25519PrivateKey.generate()
    (keys / "approval.ed25519.pem").write_bytes(attacker.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (keys / "approval.pub.pem").write_bytes(public_key_pem(attacker.public_key()))
    anchored = run_cli(anchored_home, "ledger", "anchor")
    assert anchored.exit_code == 0, anchored.output
    assert " key sha256:" not in anchored.output
    verified = run_cli(anchored_home, "ledger", "verify")
    assert verified.exit_code == 1
    found = compute_fingerprint(attacker.public_key())
    assert [line for line in verified.output.splitlines() if "BROKEN" in line] == [
        f"BROKEN trusted key: {keys / name}: the platform's approval key (approval) is not the "
        f"key anchored in trust_center's ledger (expected {expected}, found {found})"
        for name in ("approval.ed25519.pem", "approval.pub.pem")]
