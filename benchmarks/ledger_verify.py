"""Ledger verification speed: 100,000 signed events, genomlab's verifier vs a naive one.

Run: ``.venv/bin/python benchmarks/ledger_verify.py [--events 100000]``

Prints, in one run on the same ledger file:
- append rate (signed events per second, batched 1,000 per transaction);
- ``verify_ledger``: one streamed query, every hash link and hash, signatures of the signed
  checkpoints and the head (which prove every event authentic);
- ``verify_ledger(full=True)``: additionally every event's own signature;
- naive: one query per event, re-canonicalised JSON, every signature (a first implementation);
- Ed25519 verification of every event alone, the floor of any verifier that checks each one;
and the ratios. Goal (issue 2): 100,000 events verify in under 10 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from genomlab.db import read_connection
from genomlab.events import LedgerSpec, declare
from genomlab.keys import FileKeyProvider
from genomlab.ledger import GENESIS_HASH, Ledger, _event_digest, events_table, verify_ledger
from genomlab.platform.events import VoteRecorded


def build(path: Path, n: int) -> Ledger:
    spec = LedgerSpec.of(declare("bench", {"application.vote_recorded": VoteRecorded}), [])
    ledger = Ledger.open(f"sqlite:///{path}/bench.db", FileKeyProvider(path / "keys"), "bench",
                         spec)
    for start in range(0, n, 1000):
        with ledger.transaction() as tx:
            for i in range(start, min(start + 1000, n)):
                tx.append("application.vote_recorded",
                          {"application_id": f"GDE-2026-{i % 997:04d}", "vote": "approve",
                           "comment": "Geeignet und erforderlich (§ 64e Abs. 9)."},
                          actor=f"reviewer{i % 17}", stream=f"GDE-2026-{i % 997:04d}")
    return ledger


def naive_verify(ledger: Ledger) -> bool:
    prev = GENESIS_HASH
    seq = 1
    with read_connection(ledger.engine) as conn:
        while True:
            row = conn.execute(select(events_table).where(events_table.c.seq == seq)).first()
            if row is None:
                return True
            payload = json.dumps(json.loads(row.payload), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False)
            digest = _event_digest(row.seq, row.recorded_at, row.actor, row.type, row.stream,
                                   prev, row.key_id, payload)
            if digest.hex() != row.hash:
                return False
            ledger.public_key.verify(base64.b64decode(row.signature), digest)
            prev, seq = row.hash, seq + 1


def signature_floor(ledger: Ledger) -> float:
    with read_connection(ledger.engine) as conn:
        rows = conn.execute(select(events_table.c.hash, events_table.c.signature)).all()
    started = time.perf_counter()
    for digest, signature in rows:
        ledger.public_key.verify(base64.b64decode(signature), bytes.fromhex(digest))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ledger = build(Path(tmp), args.events)
        append_s = time.perf_counter() - started

        started = time.perf_counter()
        report = verify_ledger(ledger.engine, {ledger.key_id: ledger.public_key})
        verify_s = time.perf_counter() - started
        assert report.ok, report
        assert report.n_events == args.events

        started = time.perf_counter()
        assert verify_ledger(ledger.engine, {ledger.key_id: ledger.public_key}, full=True).ok
        full_s = time.perf_counter() - started

        started = time.perf_counter()
        assert naive_verify(ledger)
        naive_s = time.perf_counter() - started
        floor_s = signature_floor(ledger)

    print(f"events:                    {args.events:,}")
    print(f"append (signed, batched):  {append_s:7.2f} s  ({args.events / append_s:,.0f} events/s)")
    print(f"verify_ledger:             {verify_s:7.2f} s  ({args.events / verify_s:,.0f} events/s)"
          f"  goal < 10 s: {'met' if verify_s < 10 else 'MISSED'}")
    print(f"verify_ledger(full=True):  {full_s:7.2f} s  goal < 10 s: "
          f"{'met' if full_s < 10 else 'MISSED'}")
    print(f"naive verify:              {naive_s:7.2f} s")
    print(f"Ed25519 on every event:    {floor_s:7.2f} s  (floor for checking each signature)")
    print(f"ratio naive / genomlab:    {naive_s / verify_s:7.2f}x")
    print(f"ratio naive / full:        {naive_s / full_s:7.2f}x")
    print(f"ratio full / floor:        {full_s / floor_s:7.2f}x")


if __name__ == "__main__":
    main()
