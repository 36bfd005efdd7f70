"""What the trust centre tells the nodes when a person's data must leave them.

The nodes know a person only by dataset pseudonym; the trust centre derives both of the
person's pseudonyms (genome and clinical dataset) for the LE that asks, so that a withdrawal or
deletion request reaches every GRZ and KDK at once instead of waiting for the person's next
submission. Only an LE with a case for the person may ask (as for the withdrawal itself).
"""

from __future__ import annotations

from genomlab.db import read_connection
from genomlab.messages import DatasetDomain
from genomlab.trust_center.service import TrustCenter


def get_dataset_pseudonyms(tc: TrustCenter, *, kvnr: str,
                           le_ik: str) -> dict[DatasetDomain, str]:
    """The person's genome- and clinical-dataset pseudonyms (the person of ``kvnr`` as LE
    ``le_ik`` knows them; :class:`~genomlab.errors.PermissionDenied` without a case there)."""
    with read_connection(tc.ledger.engine) as conn:
        person_id = tc._person_of_le(conn, kvnr, le_ik)
    return {domain: tc.dataset_pseudonym(person_id, domain)
            for domain in ("genomic", "clinical")}
