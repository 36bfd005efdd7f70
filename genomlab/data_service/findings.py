"""The data service's part in re-identification for patient benefit (GenDV § 7).

BfArM hands the data service a finding it signed (:mod:`genomlab.platform.findings`). The data
service forwards it to the trust centre, which opens a re-identification request
(:func:`forward_finding`); once two trust-centre officers approved, the data service learns
which hospital (LE) treats the person and delivers the finding there (:func:`deliver_finding`).
The LE then asks the trust centre for its own case label
(:func:`genomlab.trust_center.reidentification.release_reidentification`). The data service
never learns the person, the Arbeitsnummer or the dataset pseudonyms.

Examples
--------
See ``tests/trust_center/test_case_identification_flows.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from genomlab.config import GenomlabConfig
from genomlab.data_service.store import open_data_service_ledger
from genomlab.errors import PermissionDenied
from genomlab.messages import SignedDocument
from genomlab.trust_center.reidentification import (
    get_treating_le,
    read_finding,
    request_finding_reidentification,
)
from genomlab.trust_center.service import TrustCenter

ACTOR = "data_service"


@dataclass(frozen=True)
class FindingDelivery:
    """What the treating LE receives: the finding, and the request to present to the trust
    centre for its case label."""

    request_id: str
    finding_id: str
    le_ik: str
    finding: str


def forward_finding(
    config: GenomlabConfig, tc: TrustCenter, document: SignedDocument, *, actor: str = ACTOR
) -> str:
    """Forward BfArM's finding to the trust centre; returns the re-identification request id.

    A document BfArM did not sign as a finding, or a person whose consent does not permit
    re-identification, is refused by the trust centre (recorded there) and nothing is recorded
    here.
    """
    request_id = request_finding_reidentification(tc, document, requester=actor)
    body = document.body
    open_data_service_ledger(config).append(
        "finding.forwarded",
        {"finding_id": str(body["finding_id"]), "request_id": request_id},
        actor=actor,
        stream=f"finding:{body['finding_id']}",
    )
    return request_id


def deliver_finding(
    config: GenomlabConfig,
    tc: TrustCenter,
    request_id: str,
    document: SignedDocument,
    *,
    actor: str = ACTOR,
) -> FindingDelivery:
    """Route an approved request's finding to the LE that treats the person.

    Refused (by the trust centre, recorded there) before two officers approved.
    """
    body = read_finding(tc, document)
    opened = next(iter(tc.ledger.events(stream=f"reid:{request_id}")), None)
    if opened is None or opened.payload.get("finding_id") != body["finding_id"]:
        raise PermissionDenied(
            f"re-identification {request_id} was not opened for finding {body['finding_id']}"
        )
    le_ik = get_treating_le(tc, request_id, actor=actor)
    open_data_service_ledger(config).append(
        "finding.delivered",
        {"finding_id": str(body["finding_id"]), "request_id": request_id, "le_ik": le_ik},
        actor=actor,
        stream=f"finding:{body['finding_id']}",
    )
    return FindingDelivery(request_id, str(body["finding_id"]), le_ik, str(body["finding"]))
