"""Statistical disclosure control checks on output tables, figure data and model outputs.

Every check is a pure function of one table (polars or pandas) and thresholds, and returns a
:class:`CheckResult`: ``pass``, ``fail`` or ``review``, the offending cells and one reason per
cell, so that a researcher can fix an output before asking for its release. The thresholds default
to ACRO's risk appetite (AI-SDC/ACRO ``acro/default.yaml``) and come from
``config.disclosure`` when called through :func:`check_table`.

Which column means what is read from its name (:func:`get_column_roles`): ``n``, ``count``,
``n_*``, ``*_count`` are counts; ``AC`` / ``AN`` / ``AF`` allele count, number and frequency;
``n_carriers``, ``n_het``, ``n_non_ref`` carriers; ``n_samples``, ``n_cases``, ``n_controls``
group sizes; ``df_resid`` residual degrees of freedom; ``total`` with ``largest_1``,
``largest_2`` … a magnitude table for the dominance rules (build one with
:func:`compute_magnitude_table`). Pass ``roles`` to name columns explicitly (e.g. a crosstab).

Examples
--------
>>> import polars as pl
>>> table = pl.DataFrame({"sex": ["F", "M"], "n": [12, 4]})
>>> [(r.check, r.status) for r in check_table(table)]  # doctest: +NORMALIZE_WHITESPACE
[('min_cell_count', 'fail'), ('identifiers', 'pass'), ('row_level', 'pass')]
>>> check_table(table)[0].reasons
['row 1 (sex=M): n = 4 is below the minimum cell count 10']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import polars as pl

from genomlab.config import DisclosureConfig

Status = Literal["pass", "fail", "review"]
STATUS_ORDER: dict[str, int] = {"pass": 0, "review": 1, "fail": 2}

#: ACRO's default minimum residual degrees of freedom for model outputs (acro/default.yaml).
ACRO_MIN_RESIDUAL_DF = 10

#: Values that identify a person or a sample in genomlab and genomDE.
IDENTIFIER_PATTERNS: dict[str, re.Pattern[str]] = {
    "hex key or pseudonym (tanG, VN, dataset pseudonym)": re.compile(r"^[0-9A-Fa-f]{32,128}$"),
    "project pseudonym": re.compile(r"^PP\d+-[0-9A-Za-z]+$"),
    "GRZ submission id": re.compile(r"^[0-9]{9}_\d{4}-\d{2}-\d{2}_[a-f0-9]{8}$"),
    "KVNR (health insurance number)": re.compile(r"^[A-Z][0-9]{9}$"),
}
_IDENTIFIER_NAME = re.compile(
    r"^(s|id|.*_id|.*_ids|sample.*|participant.*|patient.*|person.*|individual.*|subject.*|"
    r"pseudonym.*|.*_pseudonym|tan|tang|tanc|vn|vng|vnk|kvnr.*|donor.*|case_?id)$",
    re.IGNORECASE,
)
_SUPPRESSED = re.compile(r"^\s*(<|≤|<=)\s*\d+\s*$|^\s*[*x~-]\s*$")

_ROLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "allele_count": re.compile(r"^(ac|allele_count|ac_\w+|\w+_ac)$", re.IGNORECASE),
    "allele_number": re.compile(r"^(an|allele_number|an_\w+|\w+_an)$", re.IGNORECASE),
    "allele_frequency": re.compile(
        r"^(af|maf|aaf|allele_freq(uency)?|af_\w+|\w+_af)$", re.IGNORECASE),
    "carriers": re.compile(
        r"^(carriers|n_carriers|carrier_count|n_het|n_hom(_alt|_var)?|n_non_ref|\w+_carriers)$",
        re.IGNORECASE),
    "group_sizes": re.compile(
        r"^(n_samples|n_cases|n_controls|n_obs|nobs|sample_size|group_size|n_called|"
        r"n_individuals|n_participants|n_persons|n_people)$", re.IGNORECASE),
    "residual_df": re.compile(r"^(df_resid|df_residual|residual_df|dof)$", re.IGNORECASE),
    "total": re.compile(r"^total$", re.IGNORECASE),
    "largest": re.compile(r"^largest_\d+$", re.IGNORECASE),
    "counts": re.compile(
        r"^(n|count|counts|freq|frequency|n_\w+|\w+_count|\w+_counts|num_\w+)$", re.IGNORECASE),
    "statistics": re.compile(
        r"^(beta|se|stderr|std_err|p|p_value|pval|p_val|or|odds_ratio|hr|z|t|chi2|coef|"
        r"estimate|ci_(low|high|lower|upper)|mean|median|sd|r2|lod|\w+_mean|\w+_median)$",
        re.IGNORECASE),
    "variant": re.compile(r"^(variant|variant_id|locus|rsid|alleles|vid|snp|marker)$",
                          re.IGNORECASE),
}
_ROLE_ORDER = ("allele_count", "allele_number", "allele_frequency", "carriers", "group_sizes",
               "residual_df", "total", "largest", "variant", "statistics", "counts")


@dataclass(frozen=True)
class Cell:
    """One offending cell: its row (0-based), column and value, and the table it belongs to."""

    row: int | None
    column: str | None
    value: Any = None
    table: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one disclosure check on one output.

    ``status`` is ``pass``, ``fail`` (must be fixed, or released only with a justified exception)
    or ``review`` (a human output checker must look). ``cells`` and ``reasons`` say what and why.
    """

    status: Status
    check: str
    cells: list[Cell] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (what the airlock ledger stores: SATRE 3.3.09)."""
        return {"status": self.status, "check": self.check,
                "cells": [_jsonable(asdict(c)) for c in self.cells], "reasons": self.reasons}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(data["status"], data["check"], [Cell(**c) for c in data["cells"]],
                   list(data["reasons"]))


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    value = record.get("value")
    if value is not None and not isinstance(value, (str, int, float, bool)):
        record["value"] = str(value)
    if isinstance(value, float) and not math.isfinite(value):
        record["value"] = str(value)
    return record


@dataclass(frozen=True)
class ColumnRoles:
    """Which columns of a table hold which kind of value (see the module docstring)."""

    counts: tuple[str, ...] = ()
    allele_count: tuple[str, ...] = ()
    allele_number: tuple[str, ...] = ()
    allele_frequency: tuple[str, ...] = ()
    carriers: tuple[str, ...] = ()
    group_sizes: tuple[str, ...] = ()
    residual_df: tuple[str, ...] = ()
    total: tuple[str, ...] = ()
    largest: tuple[str, ...] = ()
    statistics: tuple[str, ...] = ()
    variant: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    @property
    def person_counts(self) -> tuple[str, ...]:
        """Columns that count people: counts, carriers and group sizes."""
        return self.counts + self.carriers + self.group_sizes

    @property
    def is_aggregate(self) -> bool:
        return bool(self.person_counts or self.allele_count or self.allele_number
                    or self.allele_frequency or self.residual_df or self.total
                    or self.statistics)


def as_polars(table: Any) -> pl.DataFrame:
    """A polars view of a polars or pandas table; a pandas index with a name becomes a column.

    Examples
    --------
    >>> import pandas as pd
    >>> as_polars(pd.DataFrame({"n": [3]}, index=pd.Index(["F"], name="sex"))).columns
    ['sex', 'n']
    """
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, pl.LazyFrame):
        return table.collect()
    import pandas as pd

    if isinstance(table, pd.Series):
        table = table.to_frame()
    if isinstance(table, pd.DataFrame):
        frame = table.copy()
        frame.columns = [str(c) for c in frame.columns]
        if any(name is not None for name in frame.index.names):
            frame = frame.reset_index()
        return pl.from_pandas(frame)
    raise TypeError(f"expected a polars or pandas table, got {type(table).__name__}")


def get_column_roles(table: Any, **explicit: Sequence[str]) -> ColumnRoles:
    """Classify a table's columns by name; ``explicit`` roles (e.g. ``counts=["F", "M"]``) win.

    Examples
    --------
    >>> import polars as pl
    >>> roles = get_column_roles(pl.DataFrame({"variant": ["1:5:A:G"], "AC": [3], "AN": [200]}))
    >>> roles.allele_count, roles.allele_number, roles.variant
    (('AC',), ('AN',), ('variant',))
    """
    frame = as_polars(table)
    unknown = set(explicit) - set(ColumnRoles.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown column role(s): {sorted(unknown)}")
    taken = {c for cols in explicit.values() for c in cols}
    found: dict[str, list[str]] = {role: [] for role in _ROLE_ORDER}
    labels: list[str] = []
    for name, dtype in frame.schema.items():
        if name in taken:
            continue
        role = next((r for r in _ROLE_ORDER if _ROLE_PATTERNS[r].match(name)), None)
        if role is not None and (dtype.is_numeric() or role in ("variant",)
                                 or dtype == pl.String):
            found[role].append(name)
        elif not dtype.is_numeric():
            labels.append(name)
    values = {role: tuple(cols) for role, cols in found.items()}
    values["labels"] = tuple(labels)
    values.update({role: tuple(cols) for role, cols in explicit.items()})
    return ColumnRoles(**values)


def _number(value: Any) -> float | None:
    """A cell as a number; ``None`` for missing, suppressed markers and text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _is_suppressed(value: Any) -> bool:
    return isinstance(value, str) and bool(_SUPPRESSED.match(value))


def _row_label(frame: pl.DataFrame, row: int, labels: Sequence[str]) -> str:
    parts = [f"{c}={frame[c][row]}" for c in labels[:3]]
    return f"row {row}" + (f" ({', '.join(parts)})" if parts else "")


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _result(check: str, flagged: list[tuple[Status, Cell, str]], ok_reason: str) -> CheckResult:
    if not flagged:
        return CheckResult("pass", check, [], [ok_reason] if ok_reason else [])
    status = max((s for s, _, _ in flagged), key=STATUS_ORDER.__getitem__)
    return CheckResult(status, check, [c for _, c, _ in flagged], [r for _, _, r in flagged])


def _as_numbers(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """A column as floats (NaN and text become null) and the mask of suppressed markers."""
    if series.dtype == pl.String:
        suppressed = series.str.contains(_SUPPRESSED.pattern).fill_null(False)
    else:
        suppressed = pl.Series([False] * len(series))
    values = series.cast(pl.Float64, strict=False)
    values = values.set(values.is_nan().fill_null(False), None)
    return values, suppressed


def _scan_counts(
    frame: pl.DataFrame, columns: Iterable[str], labels: Sequence[str], *, threshold: int,
    rule: str, complement: Mapping[str, str] | None = None,
) -> list[tuple[Status, Cell, str]]:
    """Cells with 0 < value < threshold (fail), and missing, negative or text values (review).

    With ``complement``, a count whose remainder (``whole - count``) is in 1 … threshold − 1
    fails too. Vectorised: only offending rows are visited in Python.
    """
    flagged: list[tuple[Status, Cell, str]] = []
    for column in columns:
        raw = frame[column]
        values, suppressed = _as_numbers(raw)
        small = ((values > 0) & (values < threshold)).fill_null(False)
        bad = (values.is_null() & ~suppressed) | (values < 0).fill_null(False) | small
        remainder = None
        if complement and column in complement:
            whole, _ = _as_numbers(frame[complement[column]])
            remainder = whole - values
            bad = bad | ((remainder > 0) & (remainder < threshold)).fill_null(False)
        for row in bad.arg_true().to_list():
            value, number = raw[row], values[row]
            where = f"{_row_label(frame, row, labels)}: {column}"
            cell = Cell(row, column, value)
            if number is None:
                flagged.append(("review", cell, f"{where} is missing or not a number ({value!r})"))
            elif number < 0:
                flagged.append(("review", cell, f"{where} = {_format(number)} is negative"))
            elif small[row]:
                flagged.append(("fail", cell,
                                f"{where} = {_format(number)} is below the {rule} {threshold}"))
            elif remainder is not None and complement is not None:
                rest = remainder[row]
                flagged.append(("fail", cell, (
                    f"{where} = {_format(number)} leaves {_format(rest)} of "
                    f"{complement[column]} = {_format(number + rest)}, below the {rule} "
                    f"{threshold}")))
    return flagged


def check_min_cell_count(
    table: Any, *, threshold: int = 10, roles: ColumnRoles | None = None
) -> CheckResult:
    """Counts between 1 and ``threshold - 1`` fail (ACRO threshold rule, default 10).

    Missing, negative or non-numeric counts need review; suppressed markers (``<10``, ``*``) pass.

    Examples
    --------
    >>> import polars as pl
    >>> check_min_cell_count(pl.DataFrame({"region": ["N", "S"], "n": [25, 3]})).status
    'fail'
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    flagged = _scan_counts(frame, roles.counts, roles.labels, threshold=threshold,
                           rule="minimum cell count")
    return _result("min_cell_count", flagged, "")


def check_zeros(table: Any, *, roles: ColumnRoles | None = None) -> CheckResult:
    """Zero counts fail: use where zeros are disclosive (``disclosure.suppress_zeros``).

    A zero in a cross-table says that nobody in a group has an attribute, which discloses the
    attribute of everyone in the group (ACRO ``zeros_are_disclosive``).

    Examples
    --------
    >>> import polars as pl
    >>> check_zeros(pl.DataFrame({"sex": ["F", "M"], "n": [12, 0]})).cells[0].row
    1
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    flagged: list[tuple[Status, Cell, str]] = []
    for column in roles.person_counts:
        for row, value in enumerate(frame[column].to_list()):
            if _number(value) == 0:
                flagged.append(("fail", Cell(row, column, value),
                                f"{_row_label(frame, row, roles.labels)}: {column} = 0 "
                                "(zeros are configured as disclosive)"))
    return _result("zeros", flagged, "")


def check_dominance(
    table: Any,
    *,
    p: float = 0.10,
    n: int = 2,
    k: float = 0.90,
    roles: ColumnRoles | None = None,
) -> CheckResult:
    """The p % rule and the (n, k) rule on a magnitude table (``total``, ``largest_1`` …).

    (n, k): a cell fails if its ``n`` largest contributors exceed ``k`` of its total. p %: a cell
    fails if the total minus its two largest contributors is less than ``p`` times the largest
    (the second-largest contributor could estimate the largest within p %). ACRO defaults
    p = 0.10, n = 2, k = 0.90. A cell with fewer recorded contributors than the rules need is
    left for review.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"ward": ["A", "B"], "total": [100.0, 100.0],
    ...                   "largest_1": [30.0, 95.0], "largest_2": [20.0, 2.0]})
    >>> check_dominance(t).cells[0].row
    1
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    if not roles.total or not roles.largest:
        return CheckResult("pass", "dominance", [], ["not a magnitude table (no total/largest_*)"])
    total_col = roles.total[0]
    largest = sorted(roles.largest, key=lambda c: int(c.rsplit("_", 1)[1]))
    flagged: list[tuple[Status, Cell, str]] = []
    for row in range(frame.height):
        total = _number(frame[total_col][row])
        top = sorted((v for v in (_number(frame[c][row]) for c in largest) if v is not None),
                     reverse=True)
        where = _row_label(frame, row, roles.labels)
        cell = Cell(row, total_col, frame[total_col][row])
        if total is None or total <= 0:
            continue
        if len(top) < max(n, 2):
            flagged.append(("review", cell, f"{where}: needs the {max(n, 2)} largest "
                            "contributions to apply the dominance rules"))
            continue
        if sum(top[:n]) > k * total:
            share = sum(top[:n]) / total
            flagged.append(("fail", cell, f"{where}: the {n} largest contributors hold "
                            f"{share:.0%} of {total_col} = {_format(total)} (n,k rule: > {k:.0%})"))
        elif total - top[0] - top[1] < p * top[0]:
            flagged.append(("fail", cell, f"{where}: {total_col} minus the two largest "
                            f"contributions is {_format(total - top[0] - top[1])}, less than "
                            f"{p:.0%} of the largest ({_format(top[0])}) (p% rule)"))
    return _result("dominance", flagged, "")


def compute_magnitude_table(
    data: Any, *, by: Sequence[str], value: str, n_largest: int = 2
) -> pl.DataFrame:
    """Sum ``value`` by groups with the count and the largest contributions, for dominance checks.

    Examples
    --------
    >>> import polars as pl
    >>> rows = pl.DataFrame({"ward": ["A", "A", "A"], "cost": [5.0, 1.0, 2.0]})
    >>> compute_magnitude_table(rows, by=["ward"], value="cost").row(0)
    ('A', 8.0, 3, 5.0, 2.0)
    """
    frame = as_polars(data)
    top = pl.col(value).top_k(n_largest)
    return (
        frame.group_by(by, maintain_order=True)
        .agg(pl.col(value).sum().alias("total"), pl.len().cast(pl.Int64).alias("n_contributors"),
             *[top.get(i, null_on_oob=True).alias(f"largest_{i + 1}") for i in range(n_largest)])
    )


def check_variant_counts(
    table: Any,
    *,
    min_allele_count: int = 10,
    min_carrier_count: int = 10,
    roles: ColumnRoles | None = None,
) -> CheckResult:
    """Per reported variant: allele count and carrier count at least the minimum, both ways.

    Fails a variant whose allele count (``AC``, or ``AF × AN`` when only the frequency is given)
    or carrier count is between 1 and the minimum, and also one whose *complement* is (``AN −
    AC`` or ``n − carriers``): a variant nearly everyone carries names the few who do not.
    A frequency without its allele number cannot be bounded and needs review.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"variant": ["1:5:A:G", "1:9:C:T"], "AC": [40, 2], "AN": [400, 400]})
    >>> check_variant_counts(t).reasons
    ['row 1 (variant=1:9:C:T): AC = 2 is below the minimum allele count 10']
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    labels = roles.variant or roles.labels
    allele_counts = list(roles.allele_count)
    if not allele_counts and roles.allele_frequency and roles.allele_number:
        af, an = roles.allele_frequency[0], roles.allele_number[0]
        frame = frame.with_columns((pl.col(af) * pl.col(an)).round(0).alias(f"{af}×{an}"))
        allele_counts = [f"{af}×{an}"]
    complement = {c: roles.allele_number[0] for c in allele_counts if roles.allele_number}
    flagged = _scan_counts(frame, allele_counts, labels, threshold=min_allele_count,
                           rule="minimum allele count", complement=complement)
    group = roles.group_sizes[0] if roles.group_sizes else None
    flagged += _scan_counts(frame, roles.carriers, labels, threshold=min_carrier_count,
                            rule="minimum carrier count",
                            complement=dict.fromkeys(roles.carriers, group) if group else None)
    if roles.allele_frequency and not roles.allele_number and not roles.allele_count:
        for column in roles.allele_frequency:
            flagged.append(("review", Cell(None, column), (
                f"{column}: allele frequencies without an allele number (AN) or count (AC) "
                "cannot be checked against the minimum allele count")))
    return _result("variant_counts", flagged, "")


def check_group_sizes(
    table: Any, *, min_group_size: int = 10, roles: ColumnRoles | None = None
) -> CheckResult:
    """Sample sizes behind association results and frequency tables at least ``min_group_size``.

    Group-size columns (``n``, ``n_cases``, ``n_controls``, ``n_samples`` …) are checked
    directly; an allele number ``AN`` stands for ``AN / 2`` diploid people.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"variant": ["1:5:A:G"], "beta": [0.3], "n_cases": [6],
    ...                   "n_controls": [80]})
    >>> check_group_sizes(t).reasons
    ['row 0 (variant=1:5:A:G): n_cases = 6 is below the minimum group size 10']
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    labels = roles.variant or roles.labels
    flagged = _scan_counts(frame, roles.group_sizes, labels, threshold=min_group_size,
                           rule="minimum group size")
    if roles.allele_number:
        halves = frame.select(
            *[(pl.col(c) / 2).alias(f"{c}/2") for c in roles.allele_number], *labels)
        flagged += _scan_counts(halves, [f"{c}/2" for c in roles.allele_number], labels,
                                threshold=min_group_size,
                                rule="minimum group size (people behind the allele number)")
    return _result("group_sizes", flagged, "")


def check_residual_df(
    table: Any, *, min_residual_df: int = ACRO_MIN_RESIDUAL_DF, roles: ColumnRoles | None = None
) -> CheckResult:
    """Model outputs: residual degrees of freedom at least ``min_residual_df`` (ACRO: 10).

    Examples
    --------
    >>> import polars as pl
    >>> check_residual_df(pl.DataFrame({"coef": [0.1], "df_resid": [4]})).status
    'fail'
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    flagged = _scan_counts(frame, roles.residual_df, roles.labels, threshold=min_residual_df,
                           rule="minimum residual degrees of freedom")
    return _result("residual_df", flagged, "")


def find_identifier_values(values: Iterable[Any]) -> list[tuple[int, str]]:
    """Positions and kinds of values that look like pseudonyms, case numbers or sample ids.

    Examples
    --------
    >>> find_identifier_values(["F", "PP7-3KX9Q2", "a" * 64])
    [(1, 'project pseudonym'), (2, 'hex key or pseudonym (tanG, VN, dataset pseudonym)')]
    """
    found = []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            continue
        kind = next((k for k, p in IDENTIFIER_PATTERNS.items() if p.match(value.strip())), None)
        if kind is not None:
            found.append((index, kind))
    return found


def check_identifiers(table: Any, *, roles: ColumnRoles | None = None) -> CheckResult:
    """No pseudonyms, case numbers or sample ids in an output, in any cell or column name.

    Examples
    --------
    >>> import polars as pl
    >>> check_identifiers(pl.DataFrame({"who": ["PP3-A1B2", "PP3-C3D4"], "n": [11, 12]})).status
    'fail'
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    flagged: list[tuple[Status, Cell, str]] = []
    for column in frame.columns:
        kinds = find_identifier_values([column])
        if kinds:
            flagged.append(("fail", Cell(None, column, column),
                            f"column name {column!r} looks like a {kinds[0][1]}"))
        if frame.schema[column] != pl.String:
            continue
        values = frame[column].str.strip_chars()
        kind_of_row: dict[int, str] = {}
        for kind, pattern in IDENTIFIER_PATTERNS.items():
            for row in values.str.contains(pattern.pattern).fill_null(False).arg_true().to_list():
                kind_of_row.setdefault(row, kind)
        for row in sorted(kind_of_row):
            flagged.append(("fail", Cell(row, column, frame[column][row]),
                            f"row {row}: {column} looks like a {kind_of_row[row]}"))
    return _result("identifiers", flagged, "")


def check_row_level(table: Any, *, roles: ColumnRoles | None = None) -> CheckResult:
    """Outputs must be aggregates: one row per person fails, an unrecognised table needs review.

    A column named like an identifier (``sample_id``, ``s``, ``participant`` …) whose values are
    distinct in every row means one row per person. A table without any count, frequency,
    group-size or statistic column cannot be told apart from row-level data.

    Examples
    --------
    >>> import polars as pl
    >>> check_row_level(pl.DataFrame({"sample_id": ["a", "b"], "height": [170, 180]})).status
    'fail'
    """
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    flagged: list[tuple[Status, Cell, str]] = []
    for column in frame.columns:
        if (_IDENTIFIER_NAME.match(column) and frame.height >= 2
                and frame[column].n_unique() == frame.height):
            flagged.append(("fail", Cell(None, column), (
                f"column {column!r} has a distinct value in each of the {frame.height} rows: "
                "one row per person or sample (row-level data)")))
    if not flagged and not roles.is_aggregate and frame.height:
        flagged.append(("review", Cell(None, None), (
            f"no count, frequency, group-size or statistic column among {frame.columns}: "
            "cannot tell an aggregate from row-level data (name the columns, e.g. n, AC, AF)")))
    return _result("row_level", flagged, "")


def check_table(
    table: Any,
    disclosure: DisclosureConfig | None = None,
    *,
    roles: ColumnRoles | None = None,
    min_residual_df: int = ACRO_MIN_RESIDUAL_DF,
) -> list[CheckResult]:
    """Every check that applies to a table, with thresholds from ``disclosure``.

    The minimum-cell, identifier and row-level checks always run; zeros when
    ``disclosure.suppress_zeros``; dominance on magnitude tables; the genomic rules when allele
    or carrier columns are present; group sizes and residual degrees of freedom when their
    columns are.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"variant": ["1:5:A:G"], "AC": [3], "AN": [100]})
    >>> overall_status(check_table(t))
    'fail'
    """
    disclosure = disclosure or DisclosureConfig()
    frame = as_polars(table)
    roles = roles or get_column_roles(frame)
    results = []
    if roles.counts:
        results.append(check_min_cell_count(frame, threshold=disclosure.min_cell_count,
                                            roles=roles))
    if disclosure.suppress_zeros:
        results.append(check_zeros(frame, roles=roles))
    if roles.total and roles.largest:
        results.append(check_dominance(frame, p=disclosure.dominance_p, n=disclosure.dominance_n,
                                       k=disclosure.dominance_k, roles=roles))
    if roles.allele_count or roles.allele_frequency or roles.carriers:
        results.append(check_variant_counts(frame, min_allele_count=disclosure.min_allele_count,
                                            min_carrier_count=disclosure.min_carrier_count,
                                            roles=roles))
    if roles.group_sizes or roles.allele_number:
        results.append(check_group_sizes(frame, min_group_size=disclosure.min_group_size,
                                         roles=roles))
    if roles.residual_df:
        results.append(check_residual_df(frame, min_residual_df=min_residual_df, roles=roles))
    results.append(check_identifiers(frame, roles=roles))
    results.append(check_row_level(frame, roles=roles))
    return results


def overall_status(results: Iterable[CheckResult]) -> Status:
    """The worst status among results: ``fail`` over ``review`` over ``pass``.

    Examples
    --------
    >>> overall_status([CheckResult("pass", "a"), CheckResult("review", "b")])
    'review'
    """
    worst: Status = "pass"
    for result in results:
        if STATUS_ORDER[result.status] > STATUS_ORDER[worst]:
            worst = result.status
    return worst


def with_table_name(result: CheckResult, name: str) -> CheckResult:
    """The same result with every cell labelled as belonging to table ``name``."""
    return replace(result, cells=[replace(c, table=name) for c in result.cells])
