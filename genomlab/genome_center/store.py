"""A genome data centre's ledger projection: submissions, donors and genotype batches.

Tables (portable SQL, one store per GRZ):

- ``grz_submissions``: one row per inbox submission (key = inbox folder name) with its state
  (``received → validated → pseudonymised → stored → reported → [qc_selected] → finished`` or
  ``error`` with ``failure_reason``/``failure_field``), the Prüfbericht fields and the
  quarterly-report fields. The tanG is kept only as a sha256 (``tan_hash``) to refuse reuse.
- ``grz_donors``: per donor of a submission: relation, genome-dataset pseudonym, consents,
  library types, and the store (``consented``/``nonconsented``) its genotypes went to.
- ``grz_batches``: the index of genotype batches (one Hail MatrixTable each) per store;
- ``grz_withdrawals``: persons whose research consent a later submission withdrew; their
  genotypes stay in their batch but are never read from the consented store again.

No clinical pseudonym and no identity field is ever written here.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    update,
)

from genomlab.ledger import Event

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
    Column("submission_date", String(10), nullable=True),
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

STATES = ("received", "validated", "pseudonymised", "stored", "reported", "qc_selected",
          "finished", "error")


class GenomeCenterProjection:
    """Applies ``submission.*`` and ``genotypes.*`` events to the GRZ tables."""

    metadata = metadata

    def apply(self, conn: Connection, event: Event) -> None:
        p = event.payload
        at = event.recorded_at
        where = submissions.c.inbox_id == p.get("inbox_id")
        if event.type == "submission.received":
            conn.execute(insert(submissions).values(inbox_id=p["inbox_id"], state="received",
                                                    received_at=at, updated_at=at))
        elif event.type == "submission.validated":
            conn.execute(update(submissions).where(where).values(
                state="validated", basic_qc_passed=True, validated_at=at, updated_at=at,
                **p["fields"]))
        elif event.type == "submission.error":
            conn.execute(update(submissions).where(where).values(
                state="error", basic_qc_passed=False, updated_at=at,
                failure_reason=p["failure_reason"], failure_field=p["field"],
                failure_message=p["message"], **p.get("fields", {})))
        elif event.type == "submission.pseudonymised":
            conn.execute(update(submissions).where(where).values(state="pseudonymised",
                                                                 updated_at=at))
            conn.execute(insert(donors), [{"inbox_id": p["inbox_id"], **d, "batch_id": None}
                                          for d in p["donors"]])
        elif event.type == "donor.research_withdrawn":
            conn.execute(insert(withdrawals).values(genome_pseudonym=p["genome_pseudonym"],
                                                    inbox_id=p["inbox_id"], recorded_at=at))
        elif event.type == "genotypes.batch_stored":
            conn.execute(insert(batches).values(batch_id=p["batch_id"], store=p["store"],
                                                path=p["path"], n_samples=p["n_samples"],
                                                created_at=at))
            for inbox_id, pseudonym in p["samples"]:
                conn.execute(update(donors).where((donors.c.inbox_id == inbox_id)
                                                  & (donors.c.genome_pseudonym == pseudonym))
                             .values(batch_id=p["batch_id"]))
        elif event.type == "submission.stored":
            conn.execute(update(submissions).where(where).values(state="stored", updated_at=at))
        elif event.type == "submission.reported":
            conn.execute(update(submissions).where(where).values(
                state="reported", confirmation_id=p["confirmation_id"], updated_at=at))
        elif event.type == "submission.failure_reported":
            conn.execute(update(submissions).where(where).values(
                confirmation_id=p["confirmation_id"], updated_at=at))
        elif event.type == "submission.qc_sampled":
            conn.execute(update(submissions).where(where).values(
                state="qc_selected" if p["selected"] else "reported",
                selected_for_qc=p["selected"], updated_at=at))
        elif event.type == "submission.finished":
            conn.execute(update(submissions).where(where).values(state="finished",
                                                                 updated_at=at))


PROJECTION = GenomeCenterProjection()
