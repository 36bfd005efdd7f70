"""Small-cell suppression for feasibility answers and aggregate releases.

Three rules, each a test in ``tests/data_service/test_suppression.py``:

1. **Primary**: a count from 1 to ``min_cell_count - 1`` is shown as ``"<10"`` (threshold from
   ``config.disclosure.min_cell_count``; zero is shown unless ``suppress_zeros``).
2. **No derivation from totals**: when any per-node cell is suppressed, the exact total is not
   shown either; the total becomes ``"≥N"`` with N the sum of the shown cells, so no equation
   links the hidden cells to what is shown. (Complementary cell suppression with an exact total
   still leaks at the edges, e.g. two hidden cells of 9 whose sum 18 is visible.)
3. **Differencing across queries** (query auditing, :func:`find_small_differences`): every
   count answer is recorded with its filters. A new query's result set is compared with each
   earlier answered query's result set on the *current* index, overall and per node; if a set
   difference ``Q \\ P`` or ``P \\ Q`` holds 1 to ``min_cell_count - 1`` datasets, all counts of
   the new answer are suppressed (``exists`` is still given). The same filters asked again after
   the index changed by a small count are suppressed as well. Auditing is global (not per user),
   so colluding users gain nothing from splitting queries between them. Combining three or more
   queries is not audited (a known limit of pairwise auditing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np


def format_small(count: int, *, min_cell_count: int = 10, suppress_zeros: bool = False
                 ) -> int | str:
    """``count`` itself, or ``"<k"`` when it is a small cell (rule 1).

    Examples
    --------
    >>> format_small(4), format_small(0), format_small(12)
    ('<10', 0, 12)
    """
    if 0 < count < min_cell_count or (suppress_zeros and count == 0):
        return f"<{min_cell_count}"
    return count


@dataclass(frozen=True)
class SuppressedCounts:
    """Per-node cells and the total as they may be shown, and why anything was hidden."""

    cells: dict[str, int | str]
    total: int | str
    reasons: tuple[str, ...]

    @property
    def suppressed(self) -> bool:
        return bool(self.reasons)


def suppress_counts(cells: Mapping[str, int], *, min_cell_count: int = 10,
                    suppress_zeros: bool = False) -> SuppressedCounts:
    """Apply rules 1 and 2 to per-node counts and their total.

    Examples
    --------
    >>> suppress_counts({"GRZA": 3, "GRZB": 50}).total
    '≥50'
    >>> suppress_counts({"GRZA": 30, "GRZB": 50}).total
    80
    """
    total = int(sum(cells.values()))
    shown = {node: format_small(n, min_cell_count=min_cell_count, suppress_zeros=suppress_zeros)
             for node, n in cells.items()}
    hidden = sorted(node for node, value in shown.items() if isinstance(value, str))
    reasons = [f"{node}: count below {min_cell_count}" for node in hidden]
    total_shown: int | str = format_small(total, min_cell_count=min_cell_count,
                                          suppress_zeros=suppress_zeros)
    if hidden and not isinstance(total_shown, str):
        total_shown = "≥" + str(sum(v for v in shown.values() if isinstance(v, int)))
        reasons.append("total withheld: a node's count is suppressed")
    elif isinstance(total_shown, str):
        reasons.append(f"total below {min_cell_count}")
    return SuppressedCounts(shown, total_shown, tuple(reasons))


def suppress_all(counts: SuppressedCounts, reason: str) -> SuppressedCounts:
    """Every count of an answer withheld (rule 3), keeping which cells were zero."""
    cells = {node: (0 if value == 0 else "suppressed") for node, value in counts.cells.items()}
    return SuppressedCounts(cells, "suppressed", (*counts.reasons, reason))


def find_small_differences(new: np.ndarray, earlier: Iterable[np.ndarray],
                           groups: np.ndarray, *, min_cell_count: int = 10) -> int | None:
    """Index of the first earlier result set that differs from ``new`` by a small cell.

    ``new`` and each earlier mask are boolean over the index rows; ``groups`` gives each row's
    node, so differences are checked overall and within each node (rule 3).

    Examples
    --------
    >>> rows = np.array([True] * 40 + [False] * 10)
    >>> fewer = rows.copy(); fewer[:3] = False
    >>> find_small_differences(fewer, [rows], np.array(["A"] * 50))
    0
    """
    codes = np.unique(groups, return_inverse=True)[1]
    n_groups = int(codes.max()) + 1 if codes.size else 0
    for position, mask in enumerate(earlier):
        for diff in (new & ~mask, mask & ~new):
            per_group = np.bincount(codes[diff], minlength=n_groups)
            sizes = np.append(per_group, diff.sum())
            if ((sizes > 0) & (sizes < min_cell_count)).any():
                return position
    return None
