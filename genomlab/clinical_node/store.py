"""A clinical node's ledger projection and its Parquet tables.

Ledger tables: ``kdk_records`` (one row per record, keyed by a keyed hash of its tanC, see
:func:`genomlab.clinical_node.intake.get_record_id`; state ``received → validated →
pseudonymised → stored → reported → finished`` or ``error`` with the field; the tanC only as a
sha256; the research consent; the sha256 of the file the record came from; the clinical-dataset
pseudonym once exchanged). The Prüfbericht's case fields (submitter, submission date and type,
disease, coverage and library type) go to the platform at intake and are not kept here: they
would link the record to the GRZ's submission without the trust centre.

Clinical tables (Parquet, keyed by ``clinical_pseudonym``), one set per consent store so that
research-consented and non-consented data never share a file::

    <kdk>/clinical/<consented|nonconsented>/cases.parquet       one row per record: what the
        data service reads (disease and library type, sex, birth month, AGS, consent)
    <kdk>/clinical/<consented|nonconsented>/diagnoses.parquet   system, code
    <kdk>/clinical/<consented|nonconsented>/phenotypes.parquet  hpo
    <kdk>/clinical/<consented|nonconsented>/parts.parquet       part, json: every part of
        BfArM's official dataset (case, molecular findings, plan, follow-up, a reduced
        metaData) as validated and then stripped of linking fields, see
        :mod:`genomlab.clinical_node.dataset`

Each write replaces a table by writing a temp file and renaming it; rows of the records being
written are replaced (key ``record_id``), so rerunning a crashed intake never duplicates a row.
No genome-dataset pseudonym and no identity field is ever written. ``records.erased``
(:mod:`genomlab.clinical_node.erasure`) forgets the clinical pseudonym and store of records whose
rows were removed from the tables (withdrawal, deletion, correction).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, Connection, MetaData, String, Table, Text, insert

from genomlab.clinical_node.events import CLINICAL_NODE_EVENTS
from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.events import LedgerSpec
from genomlab.institution import Institution
from genomlab.ledger import DispatchProjection, Event, EventHandler, Ledger
from genomlab.leftovers import make_owned_tmp_path
from genomlab.node_intake_store import get_intake_item_handlers, get_item_state_handler, set_items

STORES = ("consented", "nonconsented")
TABLES = ("cases", "diagnoses", "phenotypes", "parts")

metadata = MetaData()
records = Table(
    "kdk_records", metadata,
    Column("record_id", String(120), primary_key=True),
    Column("state", String(20), nullable=False, index=True),
    Column("failure_field", String(200), nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("tan_hash", String(64), nullable=True, index=True),
    Column("research_consented", Boolean, nullable=True),
    Column("clinical_pseudonym", String(80), nullable=True, index=True),
    Column("store", String(20), nullable=True),
    Column("confirmation_id", String(40), nullable=True),
    Column("source_digest", String(64), nullable=True),
    Column("received_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)


def _received(conn: Connection, event: Event) -> None:
    conn.execute(insert(records).values(
        record_id=event.payload["record_id"], state="received",
        source_digest=event.payload.get("source_digest"), received_at=event.recorded_at,
        updated_at=event.recorded_at))


def _validated(conn: Connection, event: Event) -> None:
    fields = event.payload["fields"]  # older homes' events carry case fields too: not kept
    set_items(conn, records, "record_id", event, [event.payload["record_id"]], state="validated",
              tan_hash=fields["tan_hash"], research_consented=fields["research_consented"])


def _erased(conn: Connection, event: Event) -> None:
    set_items(conn, records, "record_id", event, event.payload["record_ids"],
              clinical_pseudonym=None, store=None)


def _stored(conn: Connection, event: Event) -> None:
    set_items(conn, records, "record_id", event, event.payload["record_ids"], state="stored")


HANDLERS: dict[str, EventHandler] = {
    **get_intake_item_handlers(records, "record_id", "record"),
    "record.received": _received,
    "record.validated": _validated,
    "record.error": get_item_state_handler(records, "record_id", "error", failure_field="field",
                                           failure_message="message"),
    "record.pseudonymised": get_item_state_handler(records, "record_id", "pseudonymised",
                                                   clinical_pseudonym="clinical_pseudonym",
                                                   store="store"),
    "record.stored": _stored,
    "records.erased": _erased,
}


class ClinicalNodeProjection(DispatchProjection):
    """Applies ``record.*`` events to ``kdk_records``."""

    metadata = metadata
    handlers = HANDLERS


PROJECTION = ClinicalNodeProjection()

CLINICAL_NODE_LEDGER = LedgerSpec.of(CLINICAL_NODE_EVENTS, [PROJECTION])
"""A KDK's events and projections."""


def open_clinical_node_ledger(config: GenomlabConfig, node_id: str) -> Ledger:
    """The ledger of KDK ``node_id`` with all its projections."""
    return Institution(config, "kdk", node_id).ledger(CLINICAL_NODE_LEDGER)


def get_table_path(node_dir: Path, store: str, table: str) -> Path:
    """``<kdk>/clinical/<store>/<table>.parquet``."""
    if store not in STORES or table not in TABLES:
        raise ValueError(f"unknown clinical table {store}/{table}")
    return node_dir / "clinical" / store / f"{table}.parquet"


def replace_rows(path: Path, rows: Sequence[dict[str, Any]], schema: dict[str, Any]) -> int:
    """Replace the rows of ``rows``' record ids in the Parquet table (temp + rename), keeping
    only the columns of ``schema``; a record's rows go last, so file order is write order.

    Returns the table's row count afterwards.
    """
    import polars as pl

    new = pl.DataFrame(list(rows), schema=schema)
    if path.exists():  # a column the schema no longer has (older homes) is not written again
        old = pl.read_parquet(path).select(list(schema))
        new = pl.concat([old.filter(~pl.col("record_id").is_in(new["record_id"].unique())
                                    ), new])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_owned_tmp_path(path)
    try:
        new.write_parquet(tmp)
        crashpoint("kdk.parquet_written")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return new.height


def remove_rows(path: Path, record_ids: Collection[str]) -> int:
    """Rewrite the Parquet table without the rows of ``record_ids`` (temp + rename); return how
    many rows it dropped (0: the file is left as it is)."""
    import polars as pl

    if not path.exists():
        return 0
    old = pl.read_parquet(path)
    kept = old.filter(~pl.col("record_id").is_in(sorted(record_ids)))
    if kept.height == old.height:
        return 0
    tmp = make_owned_tmp_path(path)
    try:
        kept.write_parquet(tmp)
        crashpoint("kdk.parquet_written")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return old.height - kept.height
