"""The correction procedure: node → trust centre → treating LE → new VN → same pseudonym."""

from __future__ import annotations

import pytest

from genomlab.errors import ConflictError, PermissionDenied
from genomlab.ledger import projection_matches
from genomlab.trust_center.corrections import release_correction, request_correction
from genomlab.trust_center.service import TrustCenter
from tests.trust_center.conftest import GRZ, KDK, LE_IK, OTHER_LE_IK, enrol


def test_request_correction__round_trip_keeps_the_pseudonym(tc: TrustCenter) -> None:
    person = enrol(tc, 1)[0]
    correction_id = request_correction(tc, person.genome, node_id=GRZ,
                                       reason="VCF of the wrong sample submitted")
    with pytest.raises(PermissionDenied, match="not the treating LE"):
        release_correction(tc, correction_id, le_ik=OTHER_LE_IK, actor="le")
    notice = release_correction(tc, correction_id, le_ik=LE_IK, actor="le")
    assert notice.arbeitsnummern == (person.arbeitsnummer,)
    assert (notice.node_id, notice.domain) == (GRZ, "genomic")
    with pytest.raises(ConflictError, match="already released"):
        release_correction(tc, correction_id, le_ik=LE_IK, actor="le")
    fresh = tc.request_case_numbers(kvnr=person.kvnr, arbeitsnummer=notice.arbeitsnummern[0],
                                    le_ik=LE_IK, le_name="Uniklinik Test", actor="le",
                                    submission_type="correction")
    again = tc.exchange_case_number(fresh.genomic, node_id=GRZ, domain="genomic")
    assert again == person.genome
    assert projection_matches(tc.ledger, tc.projection) == []


def test_request_correction__only_the_node_holding_the_dataset(tc: TrustCenter) -> None:
    person = enrol(tc, 1)[0]
    with pytest.raises(PermissionDenied, match="holds no dataset"):
        request_correction(tc, person.genome, node_id="GRZHD0003", reason="x")
    with pytest.raises(PermissionDenied, match="holds no dataset"):
        request_correction(tc, person.clinical, node_id=GRZ, reason="x")
    assert request_correction(tc, person.clinical, node_id=KDK, reason="typo in ICD-10 code")
    refused = list(tc.ledger.events(type="correction.refused"))
    assert len(refused) == 2
