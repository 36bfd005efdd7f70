"""Every institution kind's ledger spec, for code that wires all institutions (demo, admin).

This is a composition root like :mod:`genomlab.cli`: it imports every institution, and no
institution imports it. An institution's own code opens its ledger with its own opener
(``open_platform_ledger``, ``open_trust_center_ledger``, ...), which passes the same spec.
"""

from __future__ import annotations

from typing import Any

from genomlab.airlock.requests import AIRLOCK_LEDGER
from genomlab.clinical_node.store import CLINICAL_NODE_LEDGER
from genomlab.config import InstitutionKind
from genomlab.data_service.store import DATA_SERVICE_LEDGER
from genomlab.events import LedgerSpec
from genomlab.genome_center.store import GENOME_CENTER_LEDGER
from genomlab.institution import Institution
from genomlab.ledger import Ledger
from genomlab.platform.store import PLATFORM_LEDGER
from genomlab.reports.runner import REPORTS_LEDGER
from genomlab.trust_center.store import TRUST_CENTER_LEDGER

LEDGER_SPECS: dict[InstitutionKind, LedgerSpec] = {
    spec.kind: spec  # type: ignore[misc]
    for spec in (PLATFORM_LEDGER, TRUST_CENTER_LEDGER, GENOME_CENTER_LEDGER,
                 CLINICAL_NODE_LEDGER, DATA_SERVICE_LEDGER, AIRLOCK_LEDGER, REPORTS_LEDGER)
}
"""Institution kind → its events and all its projections."""


def open_ledger(institution: Institution, **kwargs: Any) -> Ledger:
    """``institution``'s ledger, writable, with all of its kind's projections."""
    return institution.ledger(LEDGER_SPECS[institution.kind], **kwargs)
