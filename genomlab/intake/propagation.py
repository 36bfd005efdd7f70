"""Composition root of withdrawal and deletion: the trust centre, every node and the data
service, in one call.

:func:`propagate_withdrawal` (research consent withdrawn) and :func:`propagate_deletion`
(a deletion request) do, in this order:

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

:func:`apply_retention` erases, at every node, the persons whose last record there is older
than the retention period (100 years), and rebuilds the index.

A node is erased under its intake lock (an intake running there makes the call fail with
:class:`~genomlab.errors.ConflictError`; run it again afterwards). Each step is idempotent:
after a crash the same call again finishes the job (the trust centre records a second
``consent.withdrawn``, which changes nothing; nodes that erased already find nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.erasure import RETENTION_YEARS, ErasureReason, scrub_store
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
    """Delete the person's data at every node and store (a deletion request)."""
    return _propagate(config, kvnr=kvnr, le_ik=le_ik, actor=actor, hl=hl, on=on,
                      reason="deletion", stores=("consented", "nonconsented"))


def _propagate(config: GenomlabConfig, *, kvnr: str, le_ik: str, actor: str, hl: HailModule,
               on: date | None, reason: ErasureReason,
               stores: tuple[str, ...]) -> PropagationReport:
    from genomlab.clinical_node.erasure import erase_clinical_datasets
    from genomlab.clinical_node.intake import ClinicalNode
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
            center = GenomeCenter(config, institution.node_id)
            with center.intake_lock():  # not while an intake writes batches
                done = erase_genome_datasets(center, hl, {pseudonyms["genomic"]},
                                             reason=reason, stores=stores)
            genome[institution.node_id] = done.n_persons
        elif institution.kind == "kdk" and institution.node_id:
            node = ClinicalNode(config, institution.node_id)
            with node.intake_lock():
                erased = erase_clinical_datasets(node, {pseudonyms["clinical"]},
                                                 reason=reason, stores=stores)
            clinical[institution.node_id] = len(erased.record_ids)
    notices = notify_projects_now(config, withdrawal.projects, reason=reason, on=on)
    digest = _rebuild_index(config, hl, on) if genome or clinical else None
    return PropagationReport(reason, genome, clinical,
                             tuple(str(n.path) for n in notices), digest)


def apply_retention(config: GenomlabConfig, *, hl: HailModule, on: date | None = None,
                    years: int = RETENTION_YEARS) -> PropagationReport:
    """Erase, at every GRZ and KDK, the persons whose last record there is older than
    ``years`` (every store), then rebuild the feasibility index.

    The nodes do this on their own (no trust centre, no withdrawal); projects are not notified:
    an approved project ends long before.
    """
    from genomlab.clinical_node import erasure as kdk_erasure
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.genome_center import erasure as grz_erasure
    from genomlab.genome_center.intake import GenomeCenter

    on = on or clock.today()
    cutoff = on.replace(year=on.year - years) if not (on.month == 2 and on.day == 29) else (
        on.replace(year=on.year - years, day=28))
    genome: dict[str, int] = {}
    clinical: dict[str, int] = {}
    stores = ("consented", "nonconsented")
    for institution in existing_institutions(config):
        if institution.kind == "grz" and institution.node_id:
            center = GenomeCenter(config, institution.node_id)
            with center.intake_lock():
                expired = grz_erasure.get_expired_pseudonyms(center, cutoff.strftime("%Y-%m"))
                genome[institution.node_id] = grz_erasure.erase_genome_datasets(
                    center, hl, expired, reason="retention", stores=stores).n_persons
        elif institution.kind == "kdk" and institution.node_id:
            node = ClinicalNode(config, institution.node_id)
            with node.intake_lock():
                expired = kdk_erasure.get_expired_pseudonyms(node, cutoff.isoformat())
                clinical[institution.node_id] = len(kdk_erasure.erase_clinical_datasets(
                    node, expired, reason="retention", stores=stores).record_ids)
    return PropagationReport("retention", genome, clinical, (),
                             _rebuild_index(config, hl, on) if genome or clinical else None)


def _rebuild_index(config: GenomlabConfig, hl: HailModule, on: date) -> str:
    """Rebuild the feasibility index from the nodes and vacuum the data service's store."""
    from genomlab.data_service.adapters import get_node_readers
    from genomlab.data_service.index import build_feasibility_index
    from genomlab.data_service.store import open_data_service_ledger

    digest = build_feasibility_index(config, *get_node_readers(config, hl), on=on)
    scrub_store(open_data_service_ledger(config).engine)
    return digest
