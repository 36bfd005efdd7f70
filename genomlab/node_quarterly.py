"""What a GRZ's and a KDK's quarterly reports share: quarters, event counts, the TSV writer.

BfArM's GRZ quarterly report (``grzctl report quarterly``, genomde.md § 5.4) counts MV and
research consent revocations and deletions beside the submissions; the KDK report
(:mod:`genomlab.clinical_node.quarterly`) does the same for clinical records. A node counts them
from its own ledger: the events of the types listed for it in :data:`REVOCATION_EVENTS` and
:data:`DELETION_EVENTS`, recorded in the quarter. A type the node's ledger does not declare
(yet) is not counted; if none of a kind's types is declared the count is ``None`` (an empty
TSV cell: "not tracked"), never a made-up zero.

Neutral like :mod:`genomlab.node_intake`: :mod:`genomlab.genome_center` and
:mod:`genomlab.clinical_node` both use it and still never import each other.

Examples
--------
>>> get_quarter_bounds(2025, 3)
('2025-07-01', '2025-10-01')
>>> is_in_quarter("2025-09-30T23:59:00+00:00", get_quarter_bounds(2025, 3))
True
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genomlab.ledger import Ledger

REVOCATION_EVENTS: Mapping[str, tuple[str, ...]] = {
    "grz": ("donor.research_withdrawn",),
    "kdk": (),
}
"""Event types that record a consent revocation at a node. A GRZ records one when a later
submission withdraws a donor's research consent; the KDK derives its count from its records
(:func:`genomlab.clinical_node.quarterly.count_revocations`). Add the types of issue 18's
withdrawal work here when they land."""
DELETION_EVENTS: Mapping[str, tuple[str, ...]] = {"grz": (), "kdk": ()}
"""Event types that record a deletion of a person's data at a node (Delete request, retention
limit). None is declared yet: until issue 18's deletion work adds them the count is ``None``."""


def get_quarter_bounds(year: int, quarter: int) -> tuple[str, str]:
    """ISO dates [start, end) of a calendar quarter."""
    start = f"{year}-{3 * quarter - 2:02d}-01"
    end = f"{year + 1}-01-01" if quarter == 4 else f"{year}-{3 * quarter + 1:02d}-01"
    return start, end


def is_in_quarter(timestamp: str, bounds: tuple[str, str]) -> bool:
    """Whether an ISO date or timestamp (its first 10 characters) falls in ``bounds``."""
    return bounds[0] <= timestamp[:10] < bounds[1]


def count_events_in_quarter(ledger: Ledger, declared: frozenset[str], types: Sequence[str],
                            bounds: tuple[str, str]) -> int | None:
    """Events of ``types`` recorded in the quarter; ``None`` if ``declared`` has none of them."""
    known = [event_type for event_type in types if event_type in declared]
    if not known:
        return None
    return sum(is_in_quarter(event.recorded_at, bounds)
               for event_type in known for event in ledger.events(type=event_type))


def write_tsv_tables(tables: Mapping[str, list[dict[str, Any]]], names: Mapping[str, str],
                     out_dir: Path, suffix: str) -> list[Path]:
    """Write each table to ``<out_dir>/<names[key]>_<suffix>.tsv`` (temp + rename); ``None``
    is written as an empty cell."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, rows in tables.items():
        path = out_dir / f"{names[key]}_{suffix}.tsv"
        tmp = path.with_name(f".{path.name}.tmp")
        fields = list(rows[0]) if rows else ["submission_id"]
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, delimiter="\t",
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(path)
        paths.append(path)
    return paths
