"""What a GRZ's and a KDK's quarterly reports share: quarters, event counts, the TSV writer.

BfArM's GRZ quarterly report (``grzctl report quarterly``, genomde.md § 5.4) counts MV and
research consent revocations and deletions beside the submissions; the KDK report
(:mod:`genomlab.clinical_node.quarterly`) does the same for clinical records. A node counts them
from its own ledger: the events listed for it in :data:`REVOCATION_EVENTS` and
:data:`DELETION_EVENTS` (by type and the erasure's reason), recorded in the quarter. A type the
node's ledger does not declare is not counted; if none of a kind's types is declared the count
is ``None`` (an empty TSV cell: "not tracked"), never a made-up zero.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomlab.ledger import Ledger


@dataclass(frozen=True)
class CountedEvent:
    """Events of ``type`` that count: only those whose payload ``reason`` is ``reason`` (if
    given), each counting ``len(payload[items])`` persons or records (if given) or one."""

    type: str
    reason: str | None = None
    items: str | None = None

    def count(self, payload: Mapping[str, Any]) -> int:
        if self.reason is not None and payload.get("reason") != self.reason:
            return 0
        return 1 if self.items is None else len(payload.get(self.items) or ())


REVOCATION_EVENTS: Mapping[str, tuple[CountedEvent, ...]] = {
    "grz": (CountedEvent("donor.research_withdrawn"),
            CountedEvent("donors.erased", reason="withdrawal", items="digests")),
    "kdk": (CountedEvent("records.erased", reason="withdrawal", items="record_ids"),),
}
"""What records a consent revocation at a node: a GRZ's ``donor.research_withdrawn`` (a later
submission withdraws research consent) and the donors a withdrawal erased
(:mod:`genomlab.intake.propagation`); a KDK's records a withdrawal erased (its count from later
records without consent: :func:`genomlab.clinical_node.quarterly.count_revocations`)."""
DELETION_EVENTS: Mapping[str, tuple[CountedEvent, ...]] = {
    "grz": tuple(CountedEvent("donors.erased", reason=reason, items="digests")
                 for reason in ("deletion", "retention")),
    "kdk": tuple(CountedEvent("records.erased", reason=reason, items="record_ids")
                 for reason in ("deletion", "retention")),
}
"""What records a deletion of a person's data at a node: a Delete request or the end of the
retention period (persons at a GRZ, records at a KDK). A correction's erasure is neither."""


def get_quarter_bounds(year: int, quarter: int) -> tuple[str, str]:
    """ISO dates [start, end) of a calendar quarter."""
    start = f"{year}-{3 * quarter - 2:02d}-01"
    end = f"{year + 1}-01-01" if quarter == 4 else f"{year}-{3 * quarter + 1:02d}-01"
    return start, end


def is_in_quarter(timestamp: str, bounds: tuple[str, str]) -> bool:
    """Whether an ISO date or timestamp (its first 10 characters) falls in ``bounds``."""
    return bounds[0] <= timestamp[:10] < bounds[1]


def count_events_in_quarter(ledger: Ledger, declared: frozenset[str],
                            counted: Sequence[CountedEvent], bounds: tuple[str, str]
                            ) -> int | None:
    """What ``counted`` events recorded in the quarter add up to; ``None`` if ``declared`` has
    none of their types (not tracked by this node's ledger)."""
    known = [spec for spec in counted if spec.type in declared]
    if not known:
        return None
    return sum(spec.count(event.payload) for spec in known
               for event in ledger.events(type=spec.type)
               if is_in_quarter(event.recorded_at, bounds))


def count_revocations_and_deletions(ledger: Ledger, kind: str, bounds: tuple[str, str]
                                    ) -> dict[str, int | None]:
    """``research_consent_revocations`` and ``deletions`` of node kind ``kind`` (``grz``,
    ``kdk``) recorded in ``ledger`` in the quarter (``None``: not tracked by this ledger)."""
    declared = ledger.writable_registry().types
    return {"research_consent_revocations": count_events_in_quarter(
                ledger, declared, REVOCATION_EVENTS[kind], bounds),
            "deletions": count_events_in_quarter(ledger, declared, DELETION_EVENTS[kind],
                                                 bounds)}


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
