"""A finding relevant to a patient, reported to BfArM (GenDV § 7, genomde.md § 8.4 case 2).

Re-identification for patient benefit starts here and nowhere else: a member of an approved
project's team tells the platform (BfArM) of a finding about a project pseudonym; BfArM records
it (``finding.reported``, the finding only as a digest) and signs it as a ``reid-finding``
document (platform key ``approval``). The data service forwards that document to the trust
centre, which opens a re-identification request that two officers must approve, and routes the
finding to the treating hospital (:mod:`genomlab.data_service.findings`).

Examples
--------
See ``tests/trust_center/test_case_identification_flows.py``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC

from sqlalchemy import select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, PermissionDenied
from genomlab.institution import Institution
from genomlab.messages import FINDING_KIND, SignedDocument, sign_document
from genomlab.platform.applications import projection as t
from genomlab.platform.store import open_platform_ledger

ACTIVE_STATUSES = ("approved",)
"""Application statuses under which a project's team may report a finding."""


def report_finding(
    config: GenomlabConfig, *, project_id: str, project_pseudonym: str, finding: str, reporter: str
) -> SignedDocument:
    """Record a finding at BfArM and return it signed for the data service.

    Refused unless ``reporter`` is on the team of the approved application of ``project_id``
    (only a project's data user may have seen the pseudonym).
    """
    if not finding.strip():
        raise GenomlabError("field finding: a finding must say what was found")
    if not project_pseudonym.strip():
        raise GenomlabError("field project_pseudonym: name the person as the project knows them")
    ledger = open_platform_ledger(config)
    with ledger.transaction() as tx:
        member = tx.conn.execute(
            select(t.team.c.user_id)
            .join(t.applications, t.applications.c.application_id == t.team.c.application_id)
            .where(
                (t.applications.c.project_id == project_id)
                & t.applications.c.status.in_(ACTIVE_STATUSES)
                & (t.team.c.user_id == reporter)
            )
        ).first()
        if member is None:
            raise PermissionDenied(
                f"{reporter} is not on the team of an approved application for project {project_id}"
            )
        finding_id = f"F-{secrets.token_hex(8)}"
        tx.append(
            "finding.reported",
            {
                "finding_id": finding_id,
                "project_id": project_id,
                "reporter": reporter,
                "finding_sha256": hashlib.sha256(finding.encode()).hexdigest(),
            },
            actor=reporter,
            stream=f"finding:{finding_id}",
        )
    return sign_document(
        FINDING_KIND,
        {
            "finding_id": finding_id,
            "project_id": project_id,
            "project_pseudonym": project_pseudonym,
            "finding": finding,
            "reported_at": clock.now().astimezone(UTC).isoformat(),
        },
        Institution(config, "platform").keys().signing_key("approval"),
    )
