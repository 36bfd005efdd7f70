"""Composition root of withdrawal and deletion: the trust centre, every node and the data
service, in one call.

:func:`propagate_withdrawal` (research consent withdrawn) and :func:`propagate_deletion`
(a deletion request, or the end of the retention period) do, in this order:

1. the trust centre records the withdrawal (``consent.withdrawn``: the person is left out of
   every later linkage map) and names the projects that received the person;
2. it derives the person's genome- and clinical-dataset pseudonyms, and every GRZ and KDK of
   the home erases them (:mod:`genomlab.genome_center.erasure`,
   :mod:`genomlab.clinical_node.erasure`): a withdrawal from the consented stores, a deletion
   from every store; batches and tables are rewritten without the person, the stores vacuumed;
3. each project holding the person gets a notice at once
   (:func:`genomlab.data_service.withdrawal.notify_projects_now`);
4. the feasibility index is rebuilt from the nodes (it holds no pseudonyms, so it cannot drop a
   person's rows by itself) and the data service's store vacuumed.

Each step is idempotent: after a crash the same call again finishes the job (the trust centre
records a second ``consent.withdrawn``, which changes nothing; nodes that erased already find
nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.erasure import ErasureReason, scrub_store
from genomlab.hail_session import HailModule
from genomlab.institution import existing_institutions


@dataclass(frozen=True)
class PropagationReport:
    """What one withdrawal or deletion reached: nodes, notices and the new index."""

    reason: ErasureReason
    genome_nodes: dict[str, int]
    """GRZ → how many of the person's genome datasets it erased (0: it held none)."""
    clinical_nodes: dict[str, int]
    """KDK → how many of the person's records it erased."""
    notices: tuple[str, ...]
    """The notice files written into project workspaces."""
    index_digest: str | None


def propagate_withdrawal(config: GenomlabConfig, *, kvnr: str, le_ik: str, actor: str,
                         hl: HailModule, on: date | None = None) -> PropagationReport:
    """Withdraw the person's research consent and take them out of every consented store."""
    return _propagate(config, kvnr=kvnr, le_ik=le_ik, actor=actor, hl=hl, on=on,
                      reason="withdrawal", stores=("consented",))


def propagate_deletion(config: GenomlabConfig, *, kvnr: str, le_ik: str, actor: str,
                       hl: HailModule, on: date | None = None) -> PropagationReport:
    """Delete the person's data at every node and store (deletion request, retention end)."""
    return _propagate(config, kvnr=kvnr, le_ik=le_ik, actor=actor, hl=hl, on=on,
                      reason="deletion", stores=("consented", "nonconsented"))


def _propagate(config: GenomlabConfig, *, kvnr: str, le_ik: str, actor: str, hl: HailModule,
               on: date | None, reason: ErasureReason,
               stores: tuple[str, ...]) -> PropagationReport:
    from genomlab.clinical_node.erasure import erase_clinical_datasets
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.data_service.adapters import get_node_readers
    from genomlab.data_service.index import build_feasibility_index
    from genomlab.data_service.store import open_data_service_ledger
    from genomlab.data_service.withdrawal import notify_projects_now
    from genomlab.genome_center.erasure import erase_genome_datasets
    from genomlab.genome_center.intake import GenomeCenter
    from genomlab.trust_center.erasure import get_dataset_pseudonyms
    from genomlab.trust_center.service import TrustCenter

    on = on or clock.today()
    tc = TrustCenter(config)
    withdrawal = tc.withdraw_research_consent(kvnr=kvnr, le_ik=le_ik, actor=actor,
                                              withdrawn_on=on)
    pseudonyms = get_dataset_pseudonyms(tc, kvnr=kvnr, le_ik=le_ik)
    genome: dict[str, int] = {}
    clinical: dict[str, int] = {}
    for institution in existing_institutions(config):
        if institution.kind == "grz" and institution.node_id:
            done = erase_genome_datasets(GenomeCenter(config, institution.node_id), hl,
                                         {pseudonyms["genomic"]}, reason=reason, stores=stores)
            genome[institution.node_id] = done.n_persons
        elif institution.kind == "kdk" and institution.node_id:
            erased = erase_clinical_datasets(ClinicalNode(config, institution.node_id),
                                             {pseudonyms["clinical"]}, reason=reason,
                                             stores=stores)
            clinical[institution.node_id] = len(erased.record_ids)
    notices = notify_projects_now(config, withdrawal.projects, reason=reason, on=on)
    digest = None
    if genome or clinical:
        digest = build_feasibility_index(config, *get_node_readers(config, hl), on=on)
        scrub_store(open_data_service_ledger(config).engine)
    return PropagationReport(reason, genome, clinical,
                             tuple(str(n.path) for n in notices), digest)
