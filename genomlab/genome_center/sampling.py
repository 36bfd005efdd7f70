"""BfArM's sampling rule for detailed QC (grz-db ``should_qc``, ``grzctl db should-qc``).

Only ``initial`` submissions that passed basic QC are candidates, in the order they passed. A
candidate is selected if

1. it is its submitter's first candidate in that calendar month (of its submission date), or
2. its submitter's selected share in the quarter, counting this candidate, is still below the
   target, or
3. a seeded choice picks it: the submitter's candidates of a quarter are cut into blocks of
   ``floor(1 / target)``; in each block one position is drawn with
   ``random.Random(f"{submitter}-{year}-Q{quarter}-{block}-{salt}")``.

A decision depends only on earlier candidates, so appending submissions never changes one.

Examples
--------
>>> from datetime import date
>>> cands = [QcCandidate(f"s{i}", "260530103", date(2025, 7, 1 + i)) for i in range(5)]
>>> sorted(select_for_detailed_qc(cands))
['s0']
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

DEFAULT_TARGET_PERCENTAGE = 2.0
"""grzctl's default ``--target-percentage`` (genomde.md § 3.3)."""


@dataclass(frozen=True)
class QcCandidate:
    """An initial submission that passed basic QC, in order of passing."""

    key: str
    submitter_id: str
    submission_date: date


def select_for_detailed_qc(candidates: Sequence[QcCandidate], *,
                           target_percentage: float = DEFAULT_TARGET_PERCENTAGE,
                           salt: str = "genomlab") -> set[str]:
    """Keys of the candidates selected for detailed QC (see module docstring)."""
    target = target_percentage / 100.0
    block = max(1, math.floor(1 / target))
    selected: set[str] = set()
    months: set[tuple[str, int, int]] = set()
    quarter_seen: dict[tuple[str, int, int], int] = {}
    quarter_selected: dict[tuple[str, int, int], int] = {}
    for cand in candidates:
        day = cand.submission_date
        month = (cand.submitter_id, day.year, day.month)
        quarter = (cand.submitter_id, day.year, (day.month - 1) // 3 + 1)
        position = quarter_seen.get(quarter, 0)
        quarter_seen[quarter] = position + 1
        chosen = random.Random(f"{cand.submitter_id}-{day.year}-Q{quarter[2]}-"
                               f"{position // block}-{salt}").randrange(block)
        if (month not in months
                or quarter_selected.get(quarter, 0) / (position + 1) < target
                or position % block == chosen):
            selected.add(cand.key)
            quarter_selected[quarter] = quarter_selected.get(quarter, 0) + 1
        months.add(month)
    return selected
