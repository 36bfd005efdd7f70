"""The GRZ's quarterly activity report: the three TSVs of ``grzctl report quarterly``.

1. ``1-Gesamtübersicht_{grz}_Q{q}_{year}.tsv``: counts of submissions (total, single, duo,
   trio), failed basic QC, selected for detailed QC, research-consented or not;
2. ``2-Infos_zu_Datensätzen_{grz}_Q{q}_{year}.tsv``: one row per donor: submission type,
   coverage, disease, library types, QC, consents (no pseudonym);
3. ``3-Detailprüfung_{grz}_Q{q}_{year}.tsv``: the submissions selected for detailed QC and their
   status (``pending``: the old in-process intake runs no detailed QC; on the grzctl path
   :mod:`genomlab.genome_center.detailed_qc` runs it and ``grzctl report quarterly`` lists the
   results).

A submission belongs to the quarter of its submission month (the GRZ keeps the date to the month
only); a rejected one without a readable date to the quarter it was received in. The overview
counts research-consent revocations (``donor.research_withdrawn``: a later submission withdrew
a donor's research consent, recorded in the quarter) and deletions from the node's ledger
(:mod:`genomlab.node_quarterly`); no deletion event is declared yet, so that cell stays empty
("not tracked") rather than a made-up zero. The KDK's report is
:mod:`genomlab.clinical_node.quarterly`.

Examples
--------
>>> get_quarter_bounds(2025, 3)
('2025-07-01', '2025-10-01')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.genome_center.intake import GenomeCenter
from genomlab.node_quarterly import (
    DELETION_EVENTS,
    REVOCATION_EVENTS,
    count_events_in_quarter,
    get_quarter_bounds,
    write_tsv_tables,
)


def _in_quarter(row: dict[str, Any], bounds: tuple[str, str]) -> bool:
    month = row.get("submission_month") or str(row["received_at"])[:7]
    return bounds[0] <= f"{month}-01" < bounds[1]


def count_revocations_and_deletions(grz: GenomeCenter, bounds: tuple[str, str]
                                    ) -> dict[str, int | None]:
    """``research_consent_revocations`` and ``deletions`` recorded in the quarter (``None``:
    not tracked by this node's ledger)."""
    declared = grz.ledger.writable_registry().types
    return {"research_consent_revocations": count_events_in_quarter(
                grz.ledger, declared, REVOCATION_EVENTS["grz"], bounds),
            "deletions": count_events_in_quarter(grz.ledger, declared,
                                                 DELETION_EVENTS["grz"], bounds)}


def compute_quarterly_tables(config: GenomlabConfig, node_id: str, *, year: int,
                             quarter: int) -> dict[str, list[dict[str, Any]]]:
    """The three tables as lists of rows (``overview``, ``datasets``, ``detailed_qc``)."""
    grz = GenomeCenter(config, node_id)
    bounds = get_quarter_bounds(year, quarter)
    subs = [r for r in grz.get_submissions() if _in_quarter(r, bounds)]
    ok = [r for r in subs if r["state"] != "error"]
    overview = [{
        "grz": node_id, "quarter": f"Q{quarter}/{year}", "submissions": len(ok),
        "single": sum(r["genomic_study_type"] == "single" for r in ok),
        "duo": sum(r["genomic_study_type"] == "duo" for r in ok),
        "trio": sum(r["genomic_study_type"] == "trio" for r in ok),
        "basic_qc_failed": len(subs) - len(ok),
        "detailed_qc_selected": sum(bool(r["selected_for_qc"]) for r in ok),
        "research_consented": sum(bool(r["research_consented"]) for r in ok),
        "not_research_consented": sum(not r["research_consented"] for r in ok),
        **count_revocations_and_deletions(grz, bounds),
    }]
    by_inbox = {r["inbox_id"]: r for r in ok}
    datasets = [{
        "submission_id": by_inbox[d["inbox_id"]]["submission_id"], "relation": d["relation"],
        "submission_type": by_inbox[d["inbox_id"]]["submission_type"],
        "genomic_study_type": by_inbox[d["inbox_id"]]["genomic_study_type"],
        "coverage_type": by_inbox[d["inbox_id"]]["coverage_type"],
        "disease_type": by_inbox[d["inbox_id"]]["disease_type"],
        "library_types": d["library_types"],
        "basic_qc_passed": bool(by_inbox[d["inbox_id"]]["basic_qc_passed"]),
        "mv_consented": bool(d["mv_consented"]),
        "research_consented": bool(d["research_consented"]),
    } for d in grz.get_donors() if d["inbox_id"] in by_inbox]
    detailed = [{"submission_id": r["submission_id"], "submitter_id": r["submitter_id"],
                 "submission_month": r["submission_month"], "library_type": r["library_type"],
                 "status": "pending"} for r in ok if r["selected_for_qc"]]
    return {"overview": overview, "datasets": datasets, "detailed_qc": detailed}


REPORT_FILES = {"overview": "1-Gesamtübersicht", "datasets": "2-Infos_zu_Datensätzen",
                "detailed_qc": "3-Detailprüfung"}


def write_quarterly_tsvs(config: GenomlabConfig, node_id: str, *, year: int, quarter: int,
                         out_dir: Path) -> list[Path]:
    """Write the three TSVs into ``out_dir`` (temp + rename); return their paths."""
    tables = compute_quarterly_tables(config, node_id, year=year, quarter=quarter)
    return write_tsv_tables(tables, REPORT_FILES, out_dir, f"{node_id}_Q{quarter}_{year}")
