"""Identities and case numbers: keyed storage, same person, single-use VNs gone from the file."""

from __future__ import annotations

import hashlib
import inspect
import re
import threading

import pytest
from sqlalchemy import func, select

from genomlab.errors import ConflictError, GenomlabError, NotFoundError, PermissionDenied
from genomlab.ledger import projection_matches
from genomlab.messages import PseudonymService
from genomlab.trust_center import store
from genomlab.trust_center.service import TrustCenter
from tests.trust_center.conftest import (
    GRZ,
    KDK,
    LE_IK,
    OTHER_LE_IK,
    enrol,
    get_stored_bytes,
    make_kvnr,
)


def _request(tc: TrustCenter, i: int, arbeitsnummer: str = "AN-1", le_ik: str = LE_IK):
    return tc.request_case_numbers(kvnr=make_kvnr(i), arbeitsnummer=arbeitsnummer, le_ik=le_ik,
                                   le_name="Uniklinik Test", actor="le")


def test_request_case_numbers__random_64_hex_identity_only_keyed(tc: TrustCenter) -> None:
    kvnr, arbeitsnummer = make_kvnr(7), "Fall-Heidelberg-0815"
    vns = tc.request_case_numbers(kvnr=kvnr, arbeitsnummer=arbeitsnummer, le_ik=LE_IK,
                                  le_name="Uniklinik Test", actor="le")
    assert re.fullmatch(r"[0-9a-f]{64}", vns.genomic)
    assert re.fullmatch(r"[0-9a-f]{64}", vns.clinical)
    assert vns.genomic != vns.clinical
    raw = get_stored_bytes(tc.ledger.engine)
    assert kvnr.encode() not in raw
    assert arbeitsnummer.encode() not in raw
    with tc.ledger.engine.connect() as conn:
        stored = conn.execute(select(store.persons.c.kvnr_hash)).scalar_one()
    unkeyed = {hashlib.sha256(s.encode()).hexdigest() for s in (kvnr, f"kvnr:{kvnr}")}
    assert stored not in unkeyed
    assert len(stored) == 64


@pytest.mark.parametrize(("field", "kwargs"), [
    ("kvnr", {"kvnr": "A123456789"}),  # wrong check digit
    ("arbeitsnummer", {"arbeitsnummer": "x" * 41}),
    ("le_ik", {"le_ik": "12345"}),
])
def test_request_case_numbers__invalid_identity_is_refused(tc: TrustCenter, field: str,
                                                           kwargs: dict[str, str]) -> None:
    args = {"kvnr": make_kvnr(1), "arbeitsnummer": "AN", "le_ik": LE_IK, "le_name": "UK",
            "actor": "le", **kwargs}
    with pytest.raises(GenomlabError, match=field):
        tc.request_case_numbers(**args)


def test_request_case_numbers__follow_up_maps_to_same_person(tc: TrustCenter) -> None:
    first = _request(tc, 3, "AN-initial")
    follow_up = tc.request_case_numbers(kvnr=make_kvnr(3), arbeitsnummer="AN-followup",
                                        le_ik=OTHER_LE_IK, le_name="Other", actor="le",
                                        submission_type="followup")
    stranger = _request(tc, 4)
    pseudonyms = [tc.exchange_case_number(v.genomic, node_id=GRZ, domain="genomic")
                  for v in (first, follow_up, stranger)]
    assert pseudonyms[0] == pseudonyms[1] != pseudonyms[2]
    with tc.ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.persons)).scalar() == 2
        assert conn.execute(select(func.count()).select_from(store.cases)).scalar() == 3


def test_exchange_case_number__domain_and_node_rules(tc: TrustCenter) -> None:
    vns = _request(tc, 5)
    genome = tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
    assert genome.startswith("GDP1-")
    assert tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic") == genome
    with pytest.raises(ConflictError, match="another node"):
        tc.exchange_case_number(vns.genomic, node_id="GRZHD0003", domain="genomic")
    with pytest.raises(PermissionDenied):
        tc.exchange_case_number(vns.genomic, node_id=KDK, domain="genomic")
    with pytest.raises(PermissionDenied, match="genomic case number"):
        tc.exchange_case_number(vns.genomic, node_id=KDK, domain="clinical")
    with pytest.raises(NotFoundError, match="unknown"):
        tc.exchange_case_number("0" * 64, node_id=GRZ, domain="genomic")
    clinical = tc.exchange_case_number(vns.clinical, node_id=KDK, domain="clinical")
    assert clinical.startswith("KDP1-")
    assert clinical[5:] != genome[5:]
    refused = [e.payload["reason"] for e in tc.ledger.events(type="case_number.refused")]
    assert len(refused) == 3


def test_confirm_delivery__vn_single_use_and_gone_from_database_file(tc: TrustCenter) -> None:
    vns = _request(tc, 9)
    pseudonym = tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
    with tc.ledger.engine.connect() as conn:
        live = conn.execute(select(func.count()).select_from(store.case_numbers)).scalar()
    assert live == 2
    tc.confirm_delivery(vns.genomic, node_id=GRZ, pseudonym=pseudonym)

    with pytest.raises(ConflictError, match="already used"):
        tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
    with pytest.raises(ConflictError, match="already used"):
        tc.confirm_delivery(vns.genomic, node_id=GRZ, pseudonym=pseudonym)
    ref = tc.secrets.vn_ref(vns.genomic)
    with tc.ledger.engine.connect() as conn:
        assert conn.execute(select(store.case_numbers.c.vn_ref)
                            .where(store.case_numbers.c.vn_ref == ref)).first() is None
        assert conn.execute(select(func.count()).select_from(store.case_numbers)).scalar() == 1
    raw = get_stored_bytes(tc.ledger.engine)
    vn_bytes = bytes.fromhex(vns.genomic)
    for needle in (vns.genomic.encode(), vns.genomic.upper().encode(), vn_bytes):
        assert needle not in raw
    deleted = list(tc.ledger.events(type="case_number.deleted"))
    assert [e.payload["vn_ref"] for e in deleted] == [ref]
    assert vns.genomic not in str(deleted[0].payload)


def test_confirm_delivery__wrong_pseudonym_or_node_is_refused(tc: TrustCenter) -> None:
    vns = _request(tc, 11)
    pseudonym = tc.exchange_case_number(vns.clinical, node_id=KDK, domain="clinical")
    with pytest.raises(ConflictError, match="not the one issued"):
        tc.confirm_delivery(vns.clinical, node_id=KDK, pseudonym="KDP1-" + "0" * 32)
    with pytest.raises(ConflictError, match="did not exchange"):
        tc.confirm_delivery(vns.clinical, node_id="KDKTUE002", pseudonym=pseudonym)
    tc.confirm_delivery(vns.clinical, node_id=KDK, pseudonym=pseudonym)


def test_trust_center__keys_private_projection_matches_ledger_verifies(tc: TrustCenter) -> None:
    enrol(tc, 3)
    key_dir = tc.config.institution_dir("trust_center") / "keys"
    assert key_dir.stat().st_mode & 0o777 == 0o700
    secrets_on_disk = sorted(p.name for p in key_dir.glob("*.secret"))
    assert secrets_on_disk == ["dataset-master.secret", "identity-aead.secret",
                               "kvnr-hash.secret", "vn-ref.secret"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in key_dir.glob("*.secret"))
    assert projection_matches(tc.ledger, tc.projection) == []
    assert tc.ledger.verify().ok


def test_trust_center__implements_the_node_protocol(tc: TrustCenter) -> None:
    for name in ("exchange_case_number", "confirm_delivery"):
        wanted = inspect.signature(getattr(PseudonymService, name))
        offered = inspect.signature(getattr(TrustCenter, name))
        assert [(p.name, p.kind) for p in offered.parameters.values()] == \
            [(p.name, p.kind) for p in wanted.parameters.values()]


def test_confirm_delivery__two_confirmations_at_once_one_wins(tc: TrustCenter) -> None:
    vns = _request(tc, 21)
    pseudonym = tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def confirm() -> None:
        barrier.wait()
        try:
            tc.confirm_delivery(vns.genomic, node_id=GRZ, pseudonym=pseudonym)
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("refused")

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert len(list(tc.ledger.events(type="case_number.deleted"))) == 1


def test_register_case_numbers__le_generated_tans_and_relatives(tc: TrustCenter) -> None:
    tan_g, tan_c = "AB" * 32, "cd" * 32
    tc.register_case_numbers(kvnr=make_kvnr(30), arbeitsnummer="AN-index", le_ik=LE_IK,
                             le_name="Uniklinik Test", actor="le", genomic=tan_g, clinical=tan_c)
    mother = f"{tan_g.lower()}:S00002"  # a relative under the index patient's tanG
    tc.register_case_numbers(kvnr=make_kvnr(31), arbeitsnummer="AN-mother", le_ik=LE_IK,
                             le_name="Uniklinik Test", actor="le", genomic=mother)
    index = tc.exchange_case_number(tan_g.lower(), node_id=GRZ, domain="genomic")
    relative = tc.exchange_case_number(mother, node_id=GRZ, domain="genomic")
    assert index != relative
    assert tc.exchange_case_number(tan_c, node_id=KDK, domain="clinical").startswith("KDP1-")
    tc.confirm_delivery(tan_g, node_id=GRZ, pseudonym=index)
    with pytest.raises(ConflictError, match="registered or used before"):
        tc.register_case_numbers(kvnr=make_kvnr(32), arbeitsnummer="AN-x", le_ik=LE_IK,
                                 le_name="Uniklinik Test", actor="le", genomic=tan_g)
    with pytest.raises(ConflictError, match="registered or used before"):
        tc.register_case_numbers(kvnr=make_kvnr(32), arbeitsnummer="AN-x", le_ik=LE_IK,
                                 le_name="Uniklinik Test", actor="le", genomic=mother)
    with pytest.raises(GenomlabError, match="64 hex digits"):
        tc.register_case_numbers(kvnr=make_kvnr(32), arbeitsnummer="AN-x", le_ik=LE_IK,
                                 le_name="Uniklinik Test", actor="le", genomic="1234")
