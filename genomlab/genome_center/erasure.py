"""Erasing persons from a GRZ's genotype store: batches are compacted, not only hidden.

:func:`erase_genome_datasets` takes genome-dataset pseudonyms out of the indexed batches of the
stores it is given. Each batch holding one of them is rewritten without their columns and
without the sites that only they carried (a private variant is itself a genotype of the
person):

1. the compacted batch is written under a new batch id to ``<new>.mt.tmp`` and renamed into
   place (a crash leaves an unindexed folder, which the next intake or erasure deletes);
2. ``genotypes.batch_compacted`` swaps the index from the old batch to the new one (or drops the
   batch if nobody is left) in one transaction; then ``donors.erased`` deletes the persons'
   donor rows in those stores (withdrawal, deletion; a correction keeps the donor rows);
3. the old batch folder is deleted, the GRZ's leftovers (merged VCFs of killed runs) are swept
   and the SQLite store is vacuumed (:func:`genomlab.erasure.scrub_store`), so the freed pages
   and the WAL keep no row of the person.

Events name erased persons by :func:`genomlab.erasure.get_erasure_digest`, never by pseudonym.
The earlier intake events that carried the pseudonym (``submission.pseudonymised``,
``genotypes.batch_stored``) are signed and stay as they are: the ledger is the record of what
happened, and it holds no genotypes.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from genomlab.db import read_connection
from genomlab.erasure import ErasureReason, get_erasure_digest, scrub_store
from genomlab.genome_center import genotypes, store
from genomlab.genome_center.batches import new_batch_id
from genomlab.genome_center.intake import GenomeCenter
from genomlab.hail_session import HailModule
from genomlab.home import get_home_relative, resolve_in_home
from genomlab.leftovers import sweep_leftovers


@dataclass(frozen=True)
class GenomeErasure:
    """What one erasure did at one GRZ: persons removed and batches rewritten or dropped."""

    node_id: str
    n_persons: int
    compacted: tuple[str, ...]
    dropped: tuple[str, ...]


def _batches_holding(grz: GenomeCenter, pseudonyms: Collection[str],
                     stores: Sequence[str], keep_batch: str | None) -> dict[str, tuple[str, str]]:
    """batch id → (store, path) of the indexed batches that hold one of ``pseudonyms``."""
    with read_connection(grz.ledger.engine) as conn:
        rows = conn.execute(
            select(store.batches.c.batch_id, store.batches.c.store, store.batches.c.path)
            .join(store.donors, store.donors.c.batch_id == store.batches.c.batch_id)
            .where(store.donors.c.genome_pseudonym.in_(sorted(pseudonyms))
                   & store.batches.c.store.in_(list(stores)))).all()
    return {r.batch_id: (r.store, r.path) for r in rows if r.batch_id != keep_batch}


def _donors_of(grz: GenomeCenter, pseudonyms: Collection[str]) -> set[str]:
    with read_connection(grz.ledger.engine) as conn:
        return set(conn.execute(select(store.donors.c.genome_pseudonym).where(
            store.donors.c.genome_pseudonym.in_(sorted(pseudonyms)))).scalars())


def compact_batch(hl: HailModule, path: Path, pseudonyms: Collection[str],
                  store_dir: Path, batch_id: str) -> tuple[Path | None, int]:
    """Write ``path`` without the columns of ``pseudonyms`` and without the sites no remaining
    sample carries, as batch ``batch_id`` (temp folder, then rename).

    Returns the new batch's path (``None`` if no sample is left) and its sample count.
    """
    mt = hl.read_matrix_table(str(path))
    mt = mt.filter_cols(~hl.literal(set(pseudonyms)).contains(mt.s))
    n_samples = mt.count_cols()
    if n_samples == 0:
        return None, 0
    mt = mt.filter_rows(hl.agg.any(hl.or_else(mt.GT.is_non_ref(), False)))
    final = store_dir / f"{batch_id}.mt"
    tmp = store_dir / f"{batch_id}.mt.tmp"
    try:
        mt.write(str(tmp), overwrite=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, n_samples


def erase_genome_datasets(grz: GenomeCenter, hl: HailModule, pseudonyms: Collection[str], *,
                          reason: ErasureReason, stores: Sequence[str] = genotypes.STORES,
                          keep_batch: str | None = None) -> GenomeErasure:
    """Remove ``pseudonyms``' genotypes from ``stores`` (compacted batches) and, unless this is
    a ``correction``, their donor rows.

    ``keep_batch`` (a correction) is the batch that holds the corrected genotypes: it is left
    as it is. A pseudonym the GRZ does not hold is ignored; erasing twice changes nothing.
    """
    sweep_leftovers(grz.institution.directory / "tmp", "merge")  # merged VCFs of killed runs
    for store_name in stores:  # batches a killed run wrote but never indexed
        genotypes.remove_unindexed_batches(
            genotypes.get_store_dir(grz.institution.directory, store_name),
            grz.get_batch_paths(store_name))
    held = _donors_of(grz, pseudonyms)
    if not held:
        return GenomeErasure(grz.node_id, 0, (), ())
    digests = sorted(get_erasure_digest(p) for p in held)
    compacted: list[str] = []
    dropped: list[str] = []
    for old_id, (store_name, relative) in sorted(_batches_holding(
            grz, held, stores, keep_batch).items()):
        store_dir = genotypes.get_store_dir(grz.institution.directory, store_name)
        old_path = resolve_in_home(grz.config.home, relative)
        new_id = new_batch_id()
        new_path, n_samples = compact_batch(hl, old_path, held, store_dir, new_id)
        with grz.ledger.transaction() as tx:
            tx.append("genotypes.batch_compacted", {
                "old_batch_id": old_id, "batch_id": new_id if new_path else None,
                "store": store_name,
                "path": get_home_relative(grz.config.home, new_path) if new_path else None,
                "n_samples": n_samples, "removed": digests, "reason": reason},
                actor=grz.actor)
        shutil.rmtree(old_path, ignore_errors=True)
        (compacted if new_path else dropped).append(old_id)
    if reason != "correction":
        with grz.ledger.transaction() as tx:
            tx.append("donors.erased", {"digests": digests, "reason": reason,
                                        "stores": list(stores)}, actor=grz.actor)
    scrub_store(grz.ledger.engine)
    return GenomeErasure(grz.node_id, len(held), tuple(compacted), tuple(dropped))


def get_expired_pseudonyms(grz: GenomeCenter, before_month: str) -> set[str]:
    """Genome pseudonyms whose every submission at this GRZ is from before ``before_month``
    (``YYYY-MM``): their retention period is over."""
    with read_connection(grz.ledger.engine) as conn:
        rows = conn.execute(select(store.donors.c.genome_pseudonym,
                                   store.submissions.c.submission_month).join(
            store.submissions, store.submissions.c.inbox_id == store.donors.c.inbox_id)).all()
    latest: dict[str, str] = {}
    for pseudonym, month in rows:
        latest[pseudonym] = max(latest.get(pseudonym, ""), month or "9999-12")
    return {p for p, month in latest.items() if month < before_month}
