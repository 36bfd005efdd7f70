"""Erasing persons from a KDK's clinical tables: the Parquet tables are rewritten without them.

:func:`erase_clinical_datasets` finds the records of the given clinical-dataset pseudonyms in
the stores it is given, rewrites each table of those stores without their rows (temp file, then
``os.replace``: a reader sees the old or the new table, never half of one), records
``records.erased`` (record ids, which are keyed hashes, not the pseudonym; the projection
forgets the records' pseudonym and store) and vacuums the SQLite store
(:func:`genomlab.erasure.scrub_store`). A correction (GenDV § 5) erases the person's older
records and keeps the corrected one (``keep_records``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from genomlab.clinical_node import store
from genomlab.clinical_node.intake import ClinicalNode
from genomlab.db import read_connection
from genomlab.erasure import ErasureReason, scrub_store
from genomlab.leftovers import sweep_leftovers


@dataclass(frozen=True)
class ClinicalErasure:
    """What one erasure did at one KDK: the records removed."""

    node_id: str
    record_ids: tuple[str, ...]


def erase_clinical_datasets(node: ClinicalNode, pseudonyms: Collection[str], *,
                            reason: ErasureReason, stores: Sequence[str] = store.STORES,
                            keep_records: Collection[str] = ()) -> ClinicalErasure:
    """Remove the records of ``pseudonyms`` in ``stores`` from every clinical table.

    A pseudonym the KDK does not hold is ignored; erasing twice changes nothing.
    """
    with read_connection(node.ledger.engine) as conn:
        rows = conn.execute(select(store.records.c.record_id, store.records.c.store).where(
            store.records.c.clinical_pseudonym.in_(sorted(pseudonyms))
            & store.records.c.store.in_(list(stores)))).all()
    doomed = {r.record_id: r.store for r in rows if r.record_id not in set(keep_records)}
    for store_name in stores:  # half-written tables a killed intake left hold records too
        for table in store.TABLES:
            path = store.get_table_path(node.institution.directory, store_name, table)
            sweep_leftovers(path.parent, f".{path.name}.tmp")
    if not doomed:
        return ClinicalErasure(node.node_id, ())
    for store_name in sorted(set(doomed.values())):
        ids = {rid for rid, s in doomed.items() if s == store_name}
        for table in store.TABLES:
            store.remove_rows(store.get_table_path(node.institution.directory, store_name,
                                                   table), ids)
    node.ledger.append("records.erased", {"record_ids": sorted(doomed), "reason": reason},
                       actor=node.actor)
    scrub_store(node.ledger.engine)
    return ClinicalErasure(node.node_id, tuple(sorted(doomed)))


def get_expired_pseudonyms(node: ClinicalNode, before: str) -> set[str]:
    """Clinical pseudonyms whose every record at this KDK was received before ``before`` (ISO
    date or time): their retention period is over. (A KDK keeps no submission date, which
    would link it to the GRZ; the day it received the record is the closest it knows.)"""
    with read_connection(node.ledger.engine) as conn:
        rows = conn.execute(select(store.records.c.clinical_pseudonym,
                                   store.records.c.received_at).where(
            store.records.c.clinical_pseudonym.is_not(None))).all()
    latest: dict[str, str] = {}
    for pseudonym, received in rows:
        latest[pseudonym] = max(latest.get(pseudonym, ""), received)
    return {p for p, received in latest.items() if received < before}
