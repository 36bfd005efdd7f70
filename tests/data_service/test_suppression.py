"""Suppression rules on their own: small cells, totals, differencing masks, Beacon parsing."""

from __future__ import annotations

import numpy as np
import pytest

from genomlab.data_service.beacon import make_request, parse_request
from genomlab.data_service.suppression import (
    Differencing,
    find_differencing,
    format_small,
    suppress_all,
    suppress_counts,
)
from genomlab.errors import ValidationFailed


@pytest.mark.parametrize(("count", "shown"), [(0, 0), (1, "<10"), (9, "<10"), (10, 10)])
def test_format_small__threshold_edges(count: int, shown: int | str) -> None:
    assert format_small(count, min_cell_count=10) == shown


def test_format_small__zeros_suppressed_when_configured() -> None:
    assert format_small(0, min_cell_count=5, suppress_zeros=True) == "<5"


def test_suppress_counts__one_small_node_hides_the_exact_total() -> None:
    counts = suppress_counts({"A": 3, "B": 40, "C": 25})
    assert counts.cells == {"A": "<10", "B": 40, "C": 25}
    assert counts.total == "≥65"
    assert 68 not in counts.cells.values()
    assert counts.suppressed


def test_suppress_counts__all_large_shows_exact_total() -> None:
    counts = suppress_counts({"A": 30, "B": 12, "C": 0})
    assert counts.total == 42
    assert not counts.suppressed


def test_suppress_counts__small_total_is_suppressed() -> None:
    counts = suppress_counts({"A": 3, "B": 4})
    assert counts.total == "<10"
    assert set(counts.cells.values()) == {"<10"}


def test_suppress_all__keeps_zero_cells_only() -> None:
    hidden = suppress_all(suppress_counts({"A": 30, "B": 0}), "differencing")
    assert hidden.cells == {"A": "suppressed", "B": 0}
    assert hidden.total == "suppressed"


def test_find_differencing__per_node_difference_detected() -> None:
    groups = np.array(["A"] * 30 + ["B"] * 30)
    earlier = np.ones(60, dtype=bool)
    new = earlier.copy()
    new[30:33] = False  # three persons at node B: overall 3, per node 3
    assert find_differencing(new, [earlier], groups) == Differencing(0, 0, "intersection")
    wide = earlier.copy()
    wide[:20] = False  # twenty persons at node A
    assert find_differencing(wide, [earlier], groups) is None


def test_find_differencing__large_overall_but_small_at_one_node() -> None:
    groups = np.array(["A"] * 50 + ["B"] * 50)
    earlier = np.ones(100, dtype=bool)
    new = earlier.copy()
    new[:15] = False
    new[50:52] = False
    assert find_differencing(new, [earlier], groups) == Differencing(0, 0, "intersection")


def _rows(n: int, *ranges: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for start, stop in ranges:
        mask[start:stop] = True
    return mask


@pytest.mark.parametrize(("earlier", "new", "combination"), [
    # R \ (P ∪ Q) is 1: P rows 0-39, Q rows 40-79, R everyone (81)
    ([((0, 40),), ((40, 80),)], ((0, 81),), "union"),
    # (P ∩ Q) \ R is 1: P rows 0-59, Q rows 30-89, R rows 30-58
    ([((0, 60),), ((30, 90),)], ((30, 59),), "intersection"),
    # (P \ Q) vs R: P rows 0-59, Q rows 30-89, R rows 0-31 (2 more than P \ Q)
    ([((0, 60),), ((30, 90),)], ((0, 32),), "difference"),
    # P △ Q vs R: P rows 0-59, Q rows 30-89, R = P △ Q and rows 30-31 of P ∩ Q
    ([((0, 60),), ((30, 90),)], ((0, 32), (60, 90)), "symmetric difference"),
])
def test_find_differencing__three_query_combinations(
        earlier: list[tuple[tuple[int, int], ...]], new: tuple[tuple[int, int], ...],
        combination: str) -> None:
    groups = np.array(["A"] * 100)
    masks = [_rows(100, *ranges) for ranges in earlier]
    assert find_differencing(_rows(100, *new), masks[:1], groups) is None
    assert find_differencing(_rows(100, *new), masks[1:], groups) is None
    assert find_differencing(_rows(100, *new), masks, groups) == Differencing(0, 1, combination)


def test_find_differencing__disjoint_or_empty_combination_is_no_difference() -> None:
    """A small new set inside P inside Q: P \\ Q is empty and Q \\ P disjoint from it;
    "differing" from them by the set itself is its small cell (rule 1), not a difference."""
    groups = np.array(["A"] * 100)
    masks = [_rows(100, (0, 40)), _rows(100, (0, 60))]
    assert find_differencing(_rows(100, (0, 3)), masks, groups) is None


def test_parse_request__variant_round_trip_and_or_within_kind() -> None:
    query = parse_request(make_request(["libraryType:wgs", "libraryType:wes", "NCIT:C20197"],
                                       variant="chr7:117559590:A:G", granularity="count"))
    assert query.variant == "chr7:117559590:A:G"
    assert query.filters == {"library_type": ("wes", "wgs"), "sex": ("male",)}
    assert query.granularity == "count"


@pytest.mark.parametrize("body", [
    {"query": {"requestedGranularity": "record"}},
    {"query": {"filters": [{"id": "ICD10GM:banana"}]}},
    {"query": {"requestParameters": {"referenceName": "1", "start": 5,
                                     "referenceBases": "A", "alternateBases": "<DEL>"}}},
])
def test_parse_request__invalid_requests_name_the_field(body: dict) -> None:
    with pytest.raises(ValidationFailed, match=r"beacon request|query\.|variant"):
        parse_request(body)
