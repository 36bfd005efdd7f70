"""Small-cell suppression for feasibility answers and aggregate releases.

Three rules, each a test in ``tests/data_service/test_suppression.py``:

1. **Primary**: a count from 1 to ``min_cell_count - 1`` is shown as ``"<10"`` (threshold from
   ``config.disclosure.min_cell_count``; zero is shown unless ``suppress_zeros``).
2. **No derivation from totals**: when any per-node cell is suppressed, the exact total is not
   shown either; the total becomes ``"≥N"`` with N the sum of the shown cells, so no equation
   links the hidden cells to what is shown. (Complementary cell suppression with an exact total
   still leaks at the edges, e.g. two hidden cells of 9 whose sum 18 is visible.)
3. **Differencing across queries** (query auditing, :func:`find_differencing`): every count
   answer is recorded with its requester and filters. A new query's result set ``N`` is
   compared, on the *current* index, overall and per node, with each set ``S`` built from one
   or two of the **same requester's** earlier answered sets ``P`` and ``Q``: ``P`` itself,
   ``P ∪ Q``, ``P ∩ Q``, ``P \\ Q`` and ``P △ Q`` (three-query differencing such as
   ``R \\ (P ∪ Q)``). If ``N \\ S`` or ``S \\ N`` holds 1 to ``min_cell_count - 1``
   datasets while ``N`` and ``S`` overlap (disjoint sets tell nothing about each other), all
   counts of the new answer are suppressed (``exists`` is still given). The same filters asked
   again after the index changed by a small count are suppressed as well. All pairs are
   checked at once with Gram matrices of the boolean masks (cost ~ m² · rows for m earlier
   answers of the requester).

   Auditing is **per requester**, so no one's narrow queries can suppress anyone else's
   answers (issue 21: one user's 21 narrow queries made another user's 10 ordinary ones
   suppressed). Colluding requesters can difference *across* their histories; what bounds them
   is the per-requester **query budget** (:mod:`genomlab.data_service.feasibility`): c
   colluders get at most c × budget answers per period, as one requester with a c-times budget
   would, and each account is a registered, identified user bound by the terms of use.
   Known limit: combinations of three or more earlier sets (four-query differencing and
   beyond, or linear combinations of counts with more terms) are not audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from genomlab.config import DisclosureConfig
from genomlab.errors import ValidationFailed

PLATFORM_MIN_CELL_COUNT = 10
"""The platform's minimum cell count: no data service may answer with a lower threshold.

Source: genomlab's disclosure rule (:class:`genomlab.config.DisclosureConfig`, default 10),
which follows ACRO's default risk settings (threshold 10, as the UK's safe-outputs guidance and
the Genomics England airlock use for counts of persons). A service may be stricter, never
laxer; :func:`check_service_disclosure` refuses a configuration below it at start-up."""


def check_service_disclosure(disclosure: DisclosureConfig, *, source: str) -> None:
    """Refuse (:class:`ValidationFailed`, one line naming ``source`` and the key) a disclosure
    configuration below the platform minimum.

    Examples
    --------
    >>> check_service_disclosure(DisclosureConfig(min_cell_count=1), source="genomlab.toml")
    Traceback (most recent call last):
    ...
    genomlab.errors.ValidationFailed: genomlab.toml: disclosure.min_cell_count: 1 is below ...
    """
    if disclosure.min_cell_count < PLATFORM_MIN_CELL_COUNT:
        raise ValidationFailed(
            f"{source}: disclosure.min_cell_count: {disclosure.min_cell_count} is below the "
            f"platform minimum {PLATFORM_MIN_CELL_COUNT} "
            "(genomlab.data_service.suppression.PLATFORM_MIN_CELL_COUNT)")


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


COMBINATIONS: dict[str, tuple[bool, bool, bool]] = {
    "intersection": (True, False, False),
    "union": (True, True, True),
    "difference": (False, True, False),
    "symmetric difference": (False, True, True),
}
"""Sets built from two earlier sets P and Q: is a row in P∩Q, in P only, in Q only in it?
(P itself is the intersection of P with P; Q \\ P is the difference of the pair (Q, P).)"""


@dataclass(frozen=True)
class Differencing:
    """Earlier answers ``first`` and ``second`` (positions; equal for a pair of queries) whose
    ``combination`` differs from a new result set by a small cell."""

    first: int
    second: int
    combination: str

    def describe(self) -> str:
        if self.first == self.second:
            return "differencing: differs from an earlier answer by a small cell"
        return (f"differencing: differs by a small cell from the {self.combination} of two "
                "earlier answers")


def _pair_regions(earlier: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Counts over ``rows`` of (in both, in the first only, in the second only), shape
    (3, m, m), for every ordered pair of earlier sets."""
    part = earlier[:, rows].astype(np.float64)  # exact integer counts up to 2**53 rows
    both = part @ part.T
    sizes = part.sum(axis=1)
    return np.stack([both, sizes[:, None] - both, sizes[None, :] - both])


def find_differencing(new: np.ndarray, earlier: Sequence[np.ndarray], groups: np.ndarray, *,
                      min_cell_count: int = 10) -> Differencing | None:
    """The first earlier answer or pair of answers whose combination differs from ``new`` by a
    small cell, else ``None`` (rule 3).

    ``new`` and each earlier mask are boolean over the index rows; ``groups`` gives each row's
    node, so differences are checked overall and within each node.

    Examples
    --------
    Women and men asked, then everyone: the one person of neither sex is their union's
    complement (pairwise, everyone differs from either by 41):

    >>> women = np.array([True] * 40 + [False] * 41)
    >>> men = np.array([False] * 40 + [True] * 40 + [False])
    >>> everyone = np.ones(81, dtype=bool)
    >>> find_differencing(everyone, [women], np.array(["A"] * 81)) is None
    True
    >>> find_differencing(everyone, [women, men], np.array(["A"] * 81))
    Differencing(first=0, second=1, combination='union')
    """
    if not len(earlier):
        return None
    matrix = np.vstack(earlier)
    weights = np.array(list(COMBINATIONS.values()), dtype=np.float64)  # (combination, region)
    levels = [groups == group for group in np.unique(groups)] + [np.ones_like(new)]
    flagged = np.zeros((len(COMBINATIONS), len(earlier), len(earlier)), dtype=bool)
    for rows in levels:  # each node, then overall
        inside = np.einsum("cr,rij->cij", weights, _pair_regions(matrix, rows & new))  # |N∩S|
        missing = (rows & new).sum() - inside  # |N \ S|
        extra = np.einsum("cr,rij->cij", weights, _pair_regions(matrix, rows & ~new))  # |S \ N|
        flagged |= (inside > 0) & (_is_small(missing, min_cell_count)
                                   | _is_small(extra, min_cell_count))
    for position, name in enumerate(COMBINATIONS):
        hits = np.argwhere(flagged[position])
        if hits.size:
            first, second = (int(v) for v in hits[0])
            return Differencing(first, second, name)
    return None


def _is_small(counts: np.ndarray, min_cell_count: int) -> np.ndarray:
    return (counts > 0) & (counts < min_cell_count)
