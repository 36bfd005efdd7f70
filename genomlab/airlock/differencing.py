"""Differencing: outputs that are safe alone but together reveal a small cell.

Two tables that count the same thing (the same count or allele-count column) over populations
that differ by a few people disclose those few people by subtraction: ``n`` by sex for the whole
cohort and ``n`` by sex for the adults reveal the children by sex. :func:`check_differencing`
compares every table of a new request with every other table in it and with everything the
project released before (Genomics England names this risk, "combination with earlier
exports", but checks it by hand).

- Cells with the same labels (joined on the label columns the two tables share) whose counts
  differ by 1 … threshold − 1 **fail**: if one population contains the other, the difference is
  a small cell.
- Table totals of the same count column that differ by 1 … threshold − 1 need **review**: the two
  tables may break down nested populations in different ways.

Examples
--------
>>> import polars as pl
>>> everyone = pl.DataFrame({"sex": ["F", "M"], "n": [60, 55]})
>>> adults = pl.DataFrame({"sex": ["F", "M"], "n": [57, 55]})
>>> result = check_differencing({"adults.csv": adults}, {"everyone.csv": everyone})
>>> result.status, result.reasons[0]  # doctest: +ELLIPSIS
('fail', 'adults.csv row 0 (sex=F) and everyone.csv: n differs by 3 (57 vs 60)...')
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import polars as pl

from genomlab.airlock.checks import (
    Cell,
    CheckResult,
    ColumnRoles,
    Status,
    as_polars,
    get_column_roles,
)

CHECK = "differencing"


def _numeric(frame: pl.DataFrame, column: str) -> pl.Series:
    return frame[column].cast(pl.Float64, strict=False)


def _compare(
    name_a: str, a: pl.DataFrame, roles_a: ColumnRoles,
    name_b: str, b: pl.DataFrame, roles_b: ColumnRoles,
    threshold: int,
) -> list[tuple[Status, Cell, str]]:
    flagged: list[tuple[Status, Cell, str]] = []
    counted_b = roles_b.person_counts + roles_b.allele_count
    shared_counts = [c for c in roles_a.person_counts + roles_a.allele_count if c in counted_b]
    keys_a, keys_b = roles_a.labels + roles_a.variant, roles_b.labels + roles_b.variant
    shared_labels = [c for c in keys_a if c in keys_b]
    for column in shared_counts:
        left = a.select(*shared_labels, _numeric(a, column).alias("_a")).with_row_index("_row")
        right = b.select(*shared_labels, _numeric(b, column).alias("_b"))
        if shared_labels and set(shared_labels) == set(keys_a) == set(keys_b):
            joined = left.join(right, on=shared_labels, how="inner", nulls_equal=True)
            for row in joined.iter_rows(named=True):
                if row["_a"] is None or row["_b"] is None:
                    continue
                difference = abs(row["_a"] - row["_b"])
                if 0 < difference < threshold:
                    labels = ", ".join(f"{c}={row[c]}" for c in shared_labels[:3])
                    flagged.append(("fail", Cell(row["_row"], column, row["_a"], name_a), (
                        f"{name_a} row {row['_row']} ({labels}) and {name_b}: {column} differs "
                        f"by {difference:g} ({row['_a']:g} vs {row['_b']:g}); if one population "
                        f"contains the other, the difference is a cell below {threshold}")))
        total_a, total_b = float(left["_a"].sum()), float(right["_b"].sum())
        difference = abs(total_a - total_b)
        if 0 < difference < threshold:
            flagged.append(("review", Cell(None, column, total_a, name_a), (
                f"{name_a} and {name_b}: the totals of {column} differ by {difference:g} "
                f"({total_a:g} vs {total_b:g}); nested populations would reveal a group below "
                f"{threshold}")))
    return flagged


def check_differencing(
    new: Mapping[str, object],
    released: Mapping[str, object] | None = None,
    *,
    threshold: int = 10,
) -> CheckResult:
    """Flag tables that, with each other or with earlier releases, reveal a small cell.

    Parameters
    ----------
    new:
        The tables of the request, by name (polars or pandas).
    released:
        Everything the project released before, by name.
    threshold:
        The minimum cell count (``config.disclosure.min_cell_count``).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"sex": ["F", "M"], "n": [60, 55]})
    >>> check_differencing({"a.csv": t}, {"b.csv": t}).status  # identical: nothing revealed
    'pass'
    """
    released = released or {}
    frames = {name: as_polars(t) for name, t in {**released, **new}.items()}
    roles = {name: get_column_roles(frame) for name, frame in frames.items()}
    pairs = list(combinations(new, 2)) + [(a, b) for a in new for b in released if a != b]
    flagged: list[tuple[Status, Cell, str]] = []
    for a, b in pairs:
        flagged += _compare(a, frames[a], roles[a], b, frames[b], roles[b], threshold)
    if not flagged:
        return CheckResult("pass", CHECK, [], [
            f"compared {len(new)} table(s) with each other and with {len(released)} released"])
    status: Status = "fail" if any(s == "fail" for s, _, _ in flagged) else "review"
    return CheckResult(status, CHECK, [c for _, c, _ in flagged], [r for _, _, r in flagged])
