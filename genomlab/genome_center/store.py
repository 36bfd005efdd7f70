"""A genome data centre's ledger projection: submissions, donors and genotype batches.

Tables (portable SQL, one store per GRZ):

- ``grz_submissions``: one row per inbox submission (key = inbox folder name) with its state
  (``received → validated → pseudonymised → stored → reported → [qc_selected] → finished`` or
  ``error`` with ``failure_reason``/``failure_field``) and what BfArM's detailed-QC sampling and
  the quarterly report need: submitter, case fields, and the submission date only to the month
  (``submission_month``; the exact date goes to the platform in the Prüfbericht). The tanG is
  kept only as a sha256 (``tan_hash``) to refuse reuse.
- ``grz_donors``: per donor of a submission: relation, genome-dataset pseudonym, consents,
  library types, and the store (``consented``/``nonconsented``) its genotypes went to.
- ``grz_batches``: the index of genotype batches (one Hail MatrixTable each) per store;
- ``grz_withdrawals``: persons whose research consent a later submission withdrew; they are
  never read from the consented store again, and an erasure
  (:mod:`genomlab.genome_center.erasure`) compacts them out of their batch.

``genotypes.batch_compacted`` swaps a batch for its rewrite without erased persons;
``donors.erased`` deletes their donor and withdrawal rows (both name persons by the sha256 of
their pseudonym).

No clinical pseudonym and no identity field is ever written here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from genomlab.config import GenomlabConfig
from genomlab.erasure import select_by_digest
from genomlab.events import LedgerSpec
from genomlab.genome_center.events import GENOME_CENTER_EVENTS
from genomlab.institution import Institution
from genomlab.ledger import DispatchProjection, Event, EventHandler, Ledger
from genomlab.node_intake_store import get_intake_item_handlers, get_item_state_handler, set_items

metadata = MetaData()
submissions = Table(
    "grz_submissions", metadata,
    Column("inbox_id", String(120), primary_key=True),
    Column("submission_id", String(40), nullable=True, index=True),
    Column("state", String(20), nullable=False, index=True),
    Column("failure_reason", String(40), nullable=True),
    Column("failure_field", String(200), nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("tan_hash", String(64), nullable=True, index=True),
    Column("submitter_id", String(9), nullable=True),
    Column("submission_month", String(7), nullable=True),
    Column("submission_type", String(20), nullable=True),
    Column("disease_type", String(20), nullable=True),
    Column("coverage_type", String(5), nullable=True),
    Column("genomic_study_type", String(10), nullable=True),
    Column("genomic_study_subtype", String(20), nullable=True),
    Column("library_type", String(10), nullable=True),
    Column("n_donors", Integer, nullable=True),
    Column("research_consented", Boolean, nullable=True),
    Column("submission_size", Integer, nullable=True),
    Column("warnings", Text, nullable=True),
    Column("basic_qc_passed", Boolean, nullable=True),
    Column("validated_at", String(32), nullable=True),
    Column("confirmation_id", String(40), nullable=True),
    Column("selected_for_qc", Boolean, nullable=True),
    Column("received_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
donors = Table(
    "grz_donors", metadata,
    Column("inbox_id", String(120), primary_key=True),
    Column("donor_index", Integer, primary_key=True),
    Column("relation", String(10), nullable=False),
    Column("genome_pseudonym", String(80), nullable=False, index=True),
    Column("research_consented", Boolean, nullable=False),
    Column("mv_consented", Boolean, nullable=False),
    Column("library_types", String(200), nullable=False),
    Column("store", String(20), nullable=False),
    Column("batch_id", String(40), nullable=True),
)
batches = Table(
    "grz_batches", metadata,
    Column("batch_id", String(40), primary_key=True),
    Column("store", String(20), nullable=False, index=True),
    Column("path", String(500), nullable=False),
    Column("n_samples", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
)

withdrawals = Table(
    "grz_withdrawals", metadata,
    Column("genome_pseudonym", String(80), primary_key=True),
    Column("inbox_id", String(120), nullable=False),
    Column("recorded_at", String(32), nullable=False),
)

def _set_submission(conn: Connection, event: Event, **values: Any) -> None:
    set_items(conn, submissions, "inbox_id", event, [event.payload["inbox_id"]], **values)


def get_submission_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``grz_submissions`` values of validated fields: a submission date (events of homes
    made before revision 0005) is kept to its month.

    Examples
    --------
    >>> get_submission_columns({"submission_date": "2026-03-02", "disease_type": "rare"})
    {'disease_type': 'rare', 'submission_month': '2026-03'}
    """
    columns = {k: v for k, v in fields.items() if k != "submission_date"}
    if fields.get("submission_date"):
        columns["submission_month"] = fields["submission_date"][:7]
    return columns


def _validated(conn: Connection, event: Event) -> None:
    _set_submission(conn, event, state="validated", basic_qc_passed=True,
                    validated_at=event.recorded_at,
                    **get_submission_columns(event.payload["fields"]))


def _error(conn: Connection, event: Event) -> None:
    p = event.payload
    _set_submission(conn, event, state="error", basic_qc_passed=False,
                    failure_reason=p["failure_reason"], failure_field=p["field"],
                    failure_message=p["message"], **get_submission_columns(p.get("fields", {})))


def _pseudonymised(conn: Connection, event: Event) -> None:
    p = event.payload
    _set_submission(conn, event, state="pseudonymised")
    conn.execute(insert(donors), [{"inbox_id": p["inbox_id"], **d, "batch_id": None}
                                  for d in p["donors"]])


def _research_withdrawn(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(insert(withdrawals).values(genome_pseudonym=p["genome_pseudonym"],
                                            inbox_id=p["inbox_id"],
                                            recorded_at=event.recorded_at))


def _batch_stored(conn: Connection, event: Event) -> None:
    p = event.payload
    conn.execute(insert(batches).values(batch_id=p["batch_id"], store=p["store"], path=p["path"],
                                        n_samples=p["n_samples"], created_at=event.recorded_at))
    for inbox_id, pseudonym in p["samples"]:
        conn.execute(update(donors).where((donors.c.inbox_id == inbox_id)
                                          & (donors.c.genome_pseudonym == pseudonym))
                     .values(batch_id=p["batch_id"]))


def _batch_compacted(conn: Connection, event: Event) -> None:
    p = event.payload
    in_batch = conn.execute(select(donors.c.genome_pseudonym).where(
        donors.c.batch_id == p["old_batch_id"])).scalars().all()
    removed = select_by_digest(in_batch, p["removed"])
    conn.execute(delete(batches).where(batches.c.batch_id == p["old_batch_id"]))
    if p["batch_id"] is not None:
        conn.execute(insert(batches).values(batch_id=p["batch_id"], store=p["store"],
                                            path=p["path"], n_samples=p["n_samples"],
                                            created_at=event.recorded_at))
    conn.execute(update(donors).where((donors.c.batch_id == p["old_batch_id"])
                                      & donors.c.genome_pseudonym.in_(sorted(removed)))
                 .values(batch_id=None))
    conn.execute(update(donors).where(donors.c.batch_id == p["old_batch_id"])
                 .values(batch_id=p["batch_id"]))


def _donors_erased(conn: Connection, event: Event) -> None:
    stores = event.payload["stores"]
    known = conn.execute(select(donors.c.genome_pseudonym).where(
        donors.c.store.in_(stores))).scalars().all()
    erased = sorted(select_by_digest(known, event.payload["digests"]))
    conn.execute(delete(donors).where(donors.c.genome_pseudonym.in_(erased)
                                      & donors.c.store.in_(stores)))
    conn.execute(delete(withdrawals).where(withdrawals.c.genome_pseudonym.in_(erased)))


def _qc_sampled(conn: Connection, event: Event) -> None:
    selected = event.payload["selected"]
    _set_submission(conn, event, state="qc_selected" if selected else "reported",
                    selected_for_qc=selected)


HANDLERS: dict[str, EventHandler] = {
    **get_intake_item_handlers(submissions, "inbox_id", "submission"),
    "submission.validated": _validated,
    "submission.error": _error,
    "submission.pseudonymised": _pseudonymised,
    "donor.research_withdrawn": _research_withdrawn,
    "genotypes.batch_stored": _batch_stored,
    "genotypes.batch_compacted": _batch_compacted,
    "donors.erased": _donors_erased,
    "submission.stored": get_item_state_handler(submissions, "inbox_id", "stored"),
    "submission.failure_reported": get_item_state_handler(submissions, "inbox_id", None,
                                                          confirmation_id="confirmation_id"),
    "submission.qc_sampled": _qc_sampled,
}


class GenomeCenterProjection(DispatchProjection):
    """Applies ``submission.*`` and ``genotypes.*`` events to the GRZ tables."""

    metadata = metadata
    handlers = HANDLERS


PROJECTION = GenomeCenterProjection()

GENOME_CENTER_LEDGER = LedgerSpec.of(GENOME_CENTER_EVENTS, [PROJECTION])
"""A GRZ's events and projections."""


def open_genome_center_ledger(config: GenomlabConfig, node_id: str) -> Ledger:
    """The ledger of GRZ ``node_id`` with all its projections."""
    return Institution(config, "grz", node_id).ledger(GENOME_CENTER_LEDGER)
