"""The KDK's quarterly activity report, beside the GRZ's (``grzctl report quarterly``).

BfArM monitors the clinical data nodes as it monitors the GRZs (§ 64e (9) sentence 4 no. 1:
"Kontrolle"). A KDK reports per quarter, in two TSVs:

1. ``1-Gesamtübersicht_{kdk}_Q{q}_{year}.tsv``: records taken in (not failed), failed
   validation, by disease type (oncological, rare, hereditary), research-consented or not,
   **research-consent revocations** and **deletions**;
2. ``2-Infos_zu_Datensätzen_{kdk}_Q{q}_{year}.tsv``: one row per record: disease and library
   type, research consent, which store (consented / nonconsented), state; no pseudonym, no
   record id.

A record belongs to the quarter it was received in: the KDK keeps no submission date (it
would link its records to a GRZ's submissions, issue 21). A revocation is a record whose
research consent is not given while an earlier record of the same person (clinical dataset
pseudonym) at this node had it: the hospital sent the changed consent with a later
submission. Revocation and deletion events the node's ledger declares are added
(:data:`genomlab.node_quarterly.REVOCATION_EVENTS`, ``DELETION_EVENTS``); with no deletion
event declared the deletion count is empty ("not tracked"), not zero.

Examples
--------
>>> rows = [
...     {"clinical_pseudonym": "KDP1-a", "research_consented": True,
...      "received_at": "2025-05-02T10:00:00+00:00", "state": "finished"},
...     {"clinical_pseudonym": "KDP1-a", "research_consented": False,
...      "received_at": "2025-08-01T10:00:00+00:00", "state": "finished"}]
>>> count_revocations(rows, ("2025-07-01", "2025-10-01")), count_revocations(
...     rows, ("2025-04-01", "2025-07-01"))
(1, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genomlab.clinical_node.intake import ClinicalNode
from genomlab.config import GenomlabConfig
from genomlab.node_quarterly import (
    DELETION_EVENTS,
    REVOCATION_EVENTS,
    count_events_in_quarter,
    get_quarter_bounds,
    is_in_quarter,
    write_tsv_tables,
)

DISEASE_TYPES = ("oncological", "rare", "hereditary")
REPORT_FILES = {"overview": "1-Gesamtübersicht", "datasets": "2-Infos_zu_Datensätzen"}


def count_revocations(records: Sequence[dict[str, Any]], bounds: tuple[str, str]) -> int:
    """Records received in the quarter that revoke a research consent an earlier record of the
    same person at this node gave (failed records count neither way)."""
    consented_before: set[str] = set()
    revocations = 0
    for row in sorted(records, key=lambda r: str(r["received_at"])):
        pseudonym = row.get("clinical_pseudonym")
        if row.get("state") == "error" or not pseudonym:
            continue
        if row["research_consented"]:
            consented_before.add(pseudonym)
        elif pseudonym in consented_before:
            revocations += is_in_quarter(str(row["received_at"]), bounds)
    return revocations


def _cases(node: ClinicalNode) -> dict[str, dict[str, Any]]:
    """record id → its ``cases`` row (both stores), with the store it is in."""
    found: dict[str, dict[str, Any]] = {}
    for store_name in ("consented", "nonconsented"):
        frame = node.read_table("cases", store_name=store_name)
        for row in frame.iter_rows(named=True):
            found[row["record_id"]] = {**row, "store": store_name}
    return found


def compute_quarterly_tables(config: GenomlabConfig, node_id: str, *, year: int,
                             quarter: int) -> dict[str, list[dict[str, Any]]]:
    """The two tables as lists of rows (``overview``, ``datasets``)."""
    node = ClinicalNode(config, node_id)
    bounds = get_quarter_bounds(year, quarter)
    records = node.get_records()
    in_quarter = [r for r in records if is_in_quarter(str(r["received_at"]), bounds)]
    ok = [r for r in in_quarter if r["state"] != "error"]
    cases = _cases(node)
    declared = node.ledger.writable_registry().types
    revocation_events = count_events_in_quarter(node.ledger, declared,
                                                REVOCATION_EVENTS["kdk"], bounds)
    overview = [{
        "kdk": node_id, "quarter": f"Q{quarter}/{year}", "records": len(ok),
        **{disease: sum(cases.get(r["record_id"], {}).get("disease_type") == disease
                        for r in ok) for disease in DISEASE_TYPES},
        "validation_failed": len(in_quarter) - len(ok),
        "research_consented": sum(bool(r["research_consented"]) for r in ok),
        "not_research_consented": sum(not r["research_consented"] for r in ok),
        "research_consent_revocations": count_revocations(records, bounds)
        + (revocation_events or 0),
        "deletions": count_events_in_quarter(node.ledger, declared, DELETION_EVENTS["kdk"],
                                             bounds),
    }]
    datasets = [{
        "disease_type": case.get("disease_type"), "library_type": case.get("library_type"),
        "research_consented": bool(r["research_consented"]), "store": case.get("store"),
        "state": r["state"],
    } for r in ok if (case := cases.get(r["record_id"])) is not None]
    return {"overview": overview, "datasets": sorted(
        datasets, key=lambda d: tuple(str(v) for v in d.values()))}


def write_quarterly_tsvs(config: GenomlabConfig, node_id: str, *, year: int, quarter: int,
                         out_dir: Path) -> list[Path]:
    """Write the two TSVs into ``out_dir`` (temp + rename); return their paths."""
    tables = compute_quarterly_tables(config, node_id, year=year, quarter=quarter)
    return write_tsv_tables(tables, REPORT_FILES, out_dir, f"{node_id}_Q{quarter}_{year}")
