"""The approved cohort: which linkage rows an approval's criteria select, one rule for every path.

The trust centre issues a linkage map only for the consented persons the approved criteria
select, judged on the nodes' dataset attributes
(:func:`genomlab.data_service.selection.compute_cohort_mask`). That holds on every path: the
trust-centre service (:mod:`genomlab.services.trust_center_api`) and the in-process
:class:`genomlab.trust_center.service.TrustCenter` (the CLI's ``trust-center linkage-map
issue``, ``data-service release`` without the service, notebooks) both default to
:func:`make_cohort_filter` of their home, so a caller presenting more persons than the cohort
gets only the cohort. Neutral module (the trust centre may not import ``genomlab.services``):
it wires the node readers, the institutions import it.

Examples
--------
>>> import numpy as np
>>> from genomlab.messages import ApprovalGrant, CohortCriteria
>>> grant = ApprovalGrant(application_id="APP-1", project_id="GDE-2026-0001", title="t",
...     purposes=("research",), duo_codes=("HMB",), level="individual",
...     data_categories=("genomic",), clinical_fields=(), criteria=CohortCriteria(),
...     team=("alice",), valid_from="2026-01-01", valid_until="2027-01-01",
...     issued_at="2026-01-01T00:00:00+00:00")
>>> make_node_cohort_filter([], [])(grant, np.array(["G1"]), np.array([""])).tolist()
[False]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from genomlab.config import GenomlabConfig
from genomlab.messages import ApprovalGrant

if TYPE_CHECKING:
    from genomlab.clients.oauth import BearerTokens, ClientCredentials

CohortFilter = Callable[[ApprovalGrant, np.ndarray, np.ndarray], np.ndarray]
"""Which linkage rows the approval's criteria select: given the grant and the rows' genome- and
clinical-dataset pseudonyms (``b""`` where absent), a boolean mask."""


def make_node_cohort_filter(genome_nodes: Sequence[Any],
                            clinical_nodes: Sequence[Any]) -> CohortFilter:
    """The cohort filter over the given node readers' dataset attributes (a caller that reads
    nodes outside the home, e.g. a benchmark's stores)."""
    from genomlab.data_service.selection import compute_cohort_mask

    def select(grant: ApprovalGrant, genome: np.ndarray, clinical: np.ndarray) -> np.ndarray:
        return compute_cohort_mask(grant, genome, clinical, genome_nodes=genome_nodes,
                                   clinical_nodes=clinical_nodes)

    return select


def make_cohort_filter(config: GenomlabConfig,
                       credentials: ClientCredentials | None = None) -> CohortFilter:
    """The approved-cohort filter over the home's GRZs' and KDKs' dataset attributes.

    When node services run (their records in ``<home>/services/``), the trust centre asks each
    of them (``GET /api/datasets/attributes``) with its own platform client (``credentials``,
    default ``trust_center/platform-client.json``; scope ``datasets:attributes``: pseudonym,
    disease/library type, sex, birth month, ICD-10-GM, HPO, never genotypes or identities) and
    reads no node folder; a node whose service does not run is not asked, so its datasets stay
    outside the cohort. Without node services (one account holds the home) it reads the
    nodes' consented stores in-process through the data service's node read API. Which of the
    two is decided at every call.
    """
    tokens: list[BearerTokens] = []

    def get_tokens() -> BearerTokens:
        from genomlab.clients.nodes import ATTRIBUTES_SCOPE
        from genomlab.clients.oauth import (
            BearerTokens,
            get_credentials_path,
            load_client_credentials,
        )
        from genomlab.institution import Institution

        if not tokens:
            own = credentials or load_client_credentials(
                get_credentials_path(Institution(config, "trust_center").directory))
            tokens.append(BearerTokens(config, own, ATTRIBUTES_SCOPE))
        return tokens[0]

    def select(grant: ApprovalGrant, genome: np.ndarray, clinical: np.ndarray) -> np.ndarray:
        from genomlab.clients.nodes import get_node_service_readers, list_node_services
        from genomlab.data_service import adapters

        running = list_node_services(config)
        if running["grz"] or running["kdk"]:
            # attributes are all selection reads (no site counts, no genotypes)
            nodes: tuple[Sequence[Any], Sequence[Any]] = get_node_service_readers(
                config, get_tokens())
        else:
            nodes = adapters.get_node_readers(config)
        return make_node_cohort_filter(*nodes)(grant, genome, clinical)

    return select
