"""The signed ledger: tamper detection, checkpoints, concurrency, projections.

Every test runs on the engine under test (``store_url``: SQLite, or PostgreSQL under
``PYTEST_POSTGRES``). Tampering goes through the ledger's own engine, as an intruder with write
access to the store would.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.sql import text

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.db import dispose_engines
from genomlab.errors import GenomlabError
from genomlab.events import EventPayload, LedgerSpec, declare
from genomlab.genome_center.store import open_genome_center_ledger
from genomlab.institution import Institution
from genomlab.keys import FileKeyProvider
from genomlab.ledger import Event, Ledger, Projection, projection_matches, rebuild_projection
from tests.conftest import config_for


class ThingHappened(EventPayload):
    i: int
    note: str


class Concurrent(EventPayload):
    worker: int
    i: int


class Empty(EventPayload):
    pass


TEST_EVENTS = declare("test", {"thing.happened": ThingHappened, "concurrent": Concurrent,
                               "a": Empty, "b": Empty})


def _open(store_url: str, tmp_path: Path, projections: Sequence[Projection] = (),
          **kwargs: Any) -> Ledger:
    return Ledger.open(store_url, FileKeyProvider(tmp_path / "keys"), "test",
                       LedgerSpec.of(TEST_EVENTS, tuple(projections)), **kwargs)


def _fill(ledger: Ledger, n: int) -> None:
    with ledger.transaction() as tx:
        for i in range(n):
            tx.append("thing.happened", {"i": i, "note": "ä ß §"}, actor=f"user{i % 3}",
                      stream=f"s{i % 4}")


def _sql(ledger: Ledger, statement: str, **params: object) -> None:
    """Change the store behind the ledger's back (one transaction on its engine)."""
    with ledger.engine.begin() as con:
        con.execute(text(statement), params)


def _scalar(con: Connection, statement: str, **params: object) -> Any:
    return con.execute(text(statement), params).scalar_one()


@pytest.fixture
def filled(store_url: str, tmp_path: Path) -> Ledger:
    ledger = _open(store_url, tmp_path, checkpoint_every=50)
    _fill(ledger, 120)
    return ledger


def test_verify__intact_ledger_is_ok(filled: Ledger) -> None:
    report = filled.verify()
    assert report.ok, report
    assert report.n_events == 120
    assert report.n_checkpoints == 2


def test_verify__modified_payload_names_its_seq(filled: Ledger) -> None:
    _sql(filled, "UPDATE ledger_events SET payload = :p WHERE seq = 37", p='{"i":999}')
    report = filled.verify()
    assert report.first_bad_seq == 37
    assert "hash" in report.reason


def test_verify__modified_actor_names_its_seq(filled: Ledger) -> None:
    _sql(filled, "UPDATE ledger_events SET actor = 'mallory' WHERE seq = 5")
    assert filled.verify().first_bad_seq == 5


def test_verify__deleted_event_names_the_gap(filled: Ledger) -> None:
    _sql(filled, "DELETE FROM ledger_events WHERE seq = 64")
    report = filled.verify()
    assert report.first_bad_seq == 64
    assert "missing" in report.reason


def test_verify__deleted_tail_is_caught_by_checkpoint(filled: Ledger) -> None:
    _sql(filled, "DELETE FROM ledger_events WHERE seq > 90")
    report = filled.verify()
    assert report.first_bad_seq == 91
    assert "checkpoint" in report.reason


def test_verify__deleted_newest_events_without_a_checkpoint_are_caught_by_the_signed_head(
        filled: Ledger) -> None:
    """Events 101-120 have no checkpoint yet; only the signed head vouches for them."""
    _sql(filled, "DELETE FROM ledger_events WHERE seq > 110")
    report = filled.verify()
    assert report.first_bad_seq == 111
    assert report.reason == ("events 111 to 120 are missing (the signed head covers events up "
                             "to 120)")


def test_verify__head_set_back_without_the_key_is_caught(filled: Ledger) -> None:
    """Deleting the newest events and moving the head back needs a new head signature."""
    with filled.engine.begin() as con:
        last = _scalar(con, "SELECT hash FROM ledger_events WHERE seq = 110")
    _sql(filled, "DELETE FROM ledger_events WHERE seq > 110")
    _sql(filled, "UPDATE ledger_head SET seq = 110, hash = :h", h=last)
    report = filled.verify()
    assert report.first_bad_seq == 110
    assert report.reason == "the signed head's signature is invalid"


def test_verify__head_signed_at_every_transaction(filled: Ledger) -> None:
    with filled.transaction() as tx:
        event = tx.append("a", {}, actor="x")
    with filled.engine.begin() as con:
        head = con.execute(text("SELECT seq, hash, key_id FROM ledger_head")).one()
    assert (head.seq, head.hash, head.key_id) == (121, event.hash, filled.key_id)
    assert filled.verify().ok


def test_verify__reordered_events_name_the_first_moved(filled: Ledger) -> None:
    with filled.engine.begin() as con:
        cols = ("recorded_at", "actor", "type", "stream", "payload", "prev_hash", "hash",
                "key_id", "signature")
        select_row = f"SELECT {', '.join(cols)} FROM ledger_events WHERE seq = :seq"
        a = con.execute(text(select_row), {"seq": 20}).one()._asdict()
        b = con.execute(text(select_row), {"seq": 21}).one()._asdict()
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        con.execute(text("UPDATE ledger_events SET hash = 'x' WHERE seq = 20"))
        con.execute(text(f"UPDATE ledger_events SET {sets} WHERE seq = 21"), a)
        con.execute(text(f"UPDATE ledger_events SET {sets} WHERE seq = 20"), b)
    report = filled.verify()
    assert report.first_bad_seq == 20


def test_verify__inserted_event_names_its_seq(filled: Ledger) -> None:
    """Shift events 31.. up by one and forge an event at 31 with a correct hash link."""
    with filled.engine.begin() as con:
        con.execute(text("UPDATE ledger_events SET seq = -seq WHERE seq >= 31"))
        con.execute(text("UPDATE ledger_events SET seq = -seq + 1 WHERE seq < 0"))
        prev = _scalar(con, "SELECT hash FROM ledger_events WHERE seq = 30")
        con.execute(text(
            "INSERT INTO ledger_events (seq, recorded_at, actor, type, stream, payload, "
            "prev_hash, hash, key_id, signature) VALUES (31, '2026-01-01T00:00:00+00:00', "
            "'mallory', 'forged', NULL, '{}', :prev, :hash, 'k', 'c2ln')"),
            {"prev": prev, "hash": "f" * 64})
    report = filled.verify()
    assert report.first_bad_seq == 31


def test_verify__other_key_is_refused(filled: Ledger) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from genomlab.keys import key_id

    stranger = Ed25519PrivateKey.generate().public_key()
    report = filled.verify({filled.key_id: stranger})
    assert report.first_bad_seq == 1
    assert report.reason == "signature invalid"
    assert filled.verify({key_id(stranger): stranger}).first_bad_seq == 1


def test_verify__rewritten_and_rehashed_suffix_names_first_forged(filled: Ledger) -> None:
    """A forger changes event 70 and recomputes every later hash and link: the signatures fail."""
    from genomlab.ledger import _event_digest

    with filled.engine.begin() as con:
        rows = con.execute(text(
            "SELECT seq, recorded_at, actor, type, stream, payload, prev_hash, key_id "
            "FROM ledger_events WHERE seq >= 70 ORDER BY seq")).all()
        prev = _scalar(con, "SELECT hash FROM ledger_events WHERE seq = 69")
        for seq, at, actor, type_, stream, payload, _prev, kid in rows:
            if seq == 70:
                payload = '{"i":-1}'
            digest = _event_digest(seq, at, actor, type_, stream, prev, kid, payload).hex()
            con.execute(text("UPDATE ledger_events SET payload = :payload, prev_hash = :prev, "
                             "hash = :hash WHERE seq = :seq"),
                        {"payload": payload, "prev": prev, "hash": digest, "seq": seq})
            prev = digest
        con.execute(text("UPDATE ledger_checkpoints SET hash = :hash WHERE seq = 100"),
                    {"hash": _scalar(con, "SELECT hash FROM ledger_events WHERE seq = 100")})
    report = filled.verify()
    assert report.first_bad_seq == 70
    assert report.reason == "signature invalid"


def test_verify__full_mode_checks_every_signature(filled: Ledger) -> None:
    """Only the signature of event 30 is damaged; its content is proven by checkpoint 50."""
    _sql(filled, "UPDATE ledger_events SET signature = :s WHERE seq = 30", s="A" * 86 + "==")
    assert filled.verify().ok
    report = filled.verify(full=True)
    assert report.first_bad_seq == 30
    assert report.reason == "signature invalid"


def test_open__store_of_an_older_release_refused_until_upgraded(store_url: str,
                                                              tmp_path: Path) -> None:
    """A store an older release made (its head has no signature) is refused at opening and at
    verifying, in one line naming the ledger and the upgrade; with the column back it opens."""
    ledger = _open(store_url, tmp_path)
    _sql(ledger, "ALTER TABLE ledger_head DROP COLUMN signature")
    with pytest.raises(GenomlabError, match=r"^test: the ledger store is older than this "
                                            r"genomlab \(no signed head\); run 'genomlab db"):
        _open(store_url, tmp_path)
    with pytest.raises(GenomlabError, match="the ledger store is older than this genomlab"):
        ledger.verify()
    _sql(ledger, "ALTER TABLE ledger_head ADD COLUMN signature TEXT")
    assert _open(store_url, tmp_path).verify().ok


def _append_many(url: str, keydir: str, n: int, worker: int) -> None:
    ledger = Ledger.open(url, FileKeyProvider(keydir), "test", LedgerSpec.of(TEST_EVENTS, ()))
    for i in range(n):
        ledger.append("concurrent", {"worker": worker, "i": i}, actor=f"w{worker}")


def test_append__two_processes_lose_no_event(store_url: str, tmp_path: Path) -> None:
    _open(store_url, tmp_path)  # create tables and key before the race
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(store_url, str(tmp_path / "keys"), 300, w))
             for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    ledger = _open(store_url, tmp_path)
    events = list(ledger.events())
    assert len(events) == 600
    assert {(e.payload["worker"], e.payload["i"]) for e in events} == {
        (w, i) for w in range(2) for i in range(300)}
    assert ledger.verify().ok


class CountsProjection:
    """A test projection: events per stream."""

    metadata = MetaData()
    counts = Table("counts", metadata, Column("stream", String, primary_key=True),
                   Column("n", Integer, nullable=False))

    def apply(self, conn: Connection, event: Event) -> None:
        row = conn.execute(select(self.counts.c.n).where(self.counts.c.stream == event.stream))
        n = row.scalar()
        if n is None:
            conn.execute(insert(self.counts).values(stream=event.stream, n=1))
        else:
            conn.execute(update(self.counts).where(self.counts.c.stream == event.stream)
                         .values(n=n + 1))


def test_projection__rebuild_equals_live(store_url: str, tmp_path: Path) -> None:
    projection = CountsProjection()
    ledger = _open(store_url, tmp_path, projections=[projection])
    _fill(ledger, 40)
    assert rebuild_projection(ledger, projection)["counts"] == [
        ("s0", 10), ("s1", 10), ("s2", 10), ("s3", 10)]
    assert projection_matches(ledger, projection) == []
    _sql(ledger, "UPDATE counts SET n = 11 WHERE stream = 's2'")
    assert projection_matches(_open(store_url, tmp_path, projections=[projection]),
                              projection) == ["counts"]


def test_transaction__failure_appends_nothing(store_url: str, tmp_path: Path) -> None:
    ledger = _open(store_url, tmp_path)
    def crash_between_appends() -> None:
        with ledger.transaction() as tx:
            tx.append("a", {}, actor="x")
            raise RuntimeError("crash between appends")

    with pytest.raises(RuntimeError):
        crash_between_appends()
    assert ledger.head()[0] == 0
    assert ledger.append("b", {}, actor="x").seq == 1


def test_cli_ledger_verify__names_first_bad_seq(tmp_path: Path) -> None:
    config: GenomlabConfig = config_for(tmp_path / "home")
    inst = Institution(config, "grz", "GRZK00001")
    ledger = open_genome_center_ledger(config, "GRZK00001")
    for i in range(10):
        ledger.append("submission.received", {"inbox_id": f"s{i}"}, actor="op")
    env = {"GENOMLAB_HOME": str(config.home)}
    runner = CliRunner()
    ok = runner.invoke(main, ["ledger", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert ("grz:GRZK00001: ok: 10 events, 0 checkpoints and the signed head verified"
            in ok.output.splitlines())
    dispose_engines()
    with inst.engine().begin() as con:  # the configured store: SQLite or PostgreSQL
        con.exec_driver_sql("UPDATE ledger_events SET payload = '{\"inbox_id\":\"s0\"}' "
                             "WHERE seq = 7")
    bad = runner.invoke(main, ["ledger", "verify", "-i", "grz:GRZK00001"], env=env)
    assert bad.exit_code == 1
    assert bad.output.splitlines()[0].startswith("grz:GRZK00001: BROKEN at seq 7: ")
    assert bad.output.strip().splitlines()[-1].startswith("Error: ledger broken")
