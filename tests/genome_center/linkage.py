"""A record-linkage attack on node stores, as someone holding two stores would run it (issue 21).

The attacker reads each store with plain SQL and plain Parquet (no genomlab API): for a GRZ one
row per submission (``grz_submissions``, the index donor's ``grz_donors`` row and every ledger
event payload on the submission's stream), for a KDK one row per record (``kdk_records``, the
record's ledger event payloads, its ``cases`` row and its official-dataset ``parts`` in either
consent store). Nested payloads
are flattened (``event.submission.validated.fields.submission_date``); a value that starts like
an ISO date also yields its month and quarter (``…~month``, ``…~quarter``), so a date kept to
the day in one store still joins a month kept in another; a boolean is ``1`` or ``0``.

Two columns are *shared* when their value sets overlap (names may differ). A join on a set of
shared column pairs links a row of one store to a row of the other when their key is unique on
both sides. The keys tried (:func:`get_candidate_keys`) are every single pair, all pairs of the
same column name together, and each step of a greedy search that adds the pair making the most
key values appear on both sides.

Chance (:func:`get_chance_bound`): genomDE shares some coarse attributes on purpose, since the
data service's feasibility index needs them from both node kinds (:data:`REFERENCE`: disease
type, library type, research consent). Random assignment within the blocks of those attributes
links a row to its own person's row with probability ``p`` = (rows of the person in the block) /
(rows in the block). The number of correct links among the rows a key links is then a sum of
independent Bernoulli(``p``) (Poisson-binomial); its 99.9 % upper bound is the smallest ``c``
with P(X > c) <= 0.001. A store pair passes if no key links more correct pairs than that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, text

Rows = dict[str, dict[str, str]]
"""Row key → column → value (as text; empty values left out)."""
Pair = tuple[str, str]
"""A shared column: (column in store A, column in store B)."""

REFERENCE = {"grz": ("grz_submissions.disease_type", "grz_submissions.library_type",
                     "grz_submissions.research_consented"),
             "kdk": ("cases.disease_type", "cases.library_type", "cases.research_consented")}
"""Per store kind: the attributes shared on purpose (the blocks of random assignment)."""
UPPER_QUANTILE = 0.999
_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?")


@dataclass(frozen=True)
class Store:
    """One node store as the attacker sees it, and (from the world's truth) whose rows are whose.
    """

    name: str
    kind: str
    rows: Rows
    person: dict[str, str]


@dataclass(frozen=True)
class Linkage:
    """The strongest join of a store pair: its key, links, correct links and chance bound."""

    key: tuple[Pair, ...]
    linked: int
    correct: int
    expected: float
    bound: int


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(f"{prefix}.{i}", item, out)
    elif isinstance(value, bool):  # SQLite answers 1/0, Parquet and PostgreSQL True/False
        out[prefix] = str(int(value))
    elif value is not None and str(value) != "":
        out[prefix] = str(value)
        if isinstance(value, str) and (m := _DATE.match(value)):
            out[f"{prefix}~month"] = value[:7]
            out[f"{prefix}~quarter"] = f"{m[1]}-Q{(int(m[2]) - 1) // 3 + 1}"


def _select(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def _add_events(engine: Engine, rows: Rows, noun: str) -> None:
    for event in _select(engine, "SELECT type, stream, payload FROM ledger_events "
                                 "WHERE stream LIKE :prefix", prefix=f"{noun}:%"):
        key = event["stream"].split(":", 1)[1]
        if key in rows:
            _flatten(f"event.{event['type']}", json.loads(event["payload"]), rows[key])


def read_grz_rows(engine: Engine) -> Rows:
    """One row per submission: its table row, its index donor and its events' payloads."""
    rows: Rows = {}
    for row in _select(engine, "SELECT * FROM grz_submissions"):
        rows[row["inbox_id"]] = {}
        _flatten("grz_submissions", row, rows[row["inbox_id"]])
    for donor in _select(engine, "SELECT * FROM grz_donors WHERE relation = 'index'"):
        _flatten("grz_donors", donor, rows[donor["inbox_id"]])
    _add_events(engine, rows, "submission")
    return rows


def read_kdk_rows(engine: Engine, node_dir: Path) -> Rows:
    """One row per record: its table row, its events' payloads and its ``cases`` row."""
    rows: Rows = {}
    for row in _select(engine, "SELECT * FROM kdk_records"):
        rows[row["record_id"]] = {}
        _flatten("kdk_records", row, rows[row["record_id"]])
    _add_events(engine, rows, "record")
    for path in sorted(node_dir.glob("clinical/*/cases.parquet")):
        for case in pl.read_parquet(path).to_dicts():
            _flatten("cases", case, rows.setdefault(case["record_id"], {}))
    for path in sorted(node_dir.glob("clinical/*/parts.parquet")):  # the official dataset
        for part in pl.read_parquet(path).to_dicts():
            _flatten(f"parts.{part['part']}", json.loads(part["json"]),
                     rows.setdefault(part["record_id"], {}))
    return rows


def get_grz_persons(rows: Rows, truth: dict[str, Any]) -> dict[str, str]:
    """Inbox id → person of the submission's index donor (a bad copy: of its original)."""
    person = {s["sample"]: s["person"] for s in truth["samples"]}
    by_id = {s["submission_id"]: s for s in truth["submissions"]}
    index = {Path(s["path"]).name: person[s["index_sample"]] for s in truth["submissions"]}
    index.update({Path(b["path"]).name: person[by_id[b["derived_from"]]["index_sample"]]
                  for b in truth["bad_submissions"]})
    return {key: index[key] for key in rows if key in index}


def get_kdk_persons(rows: Rows, truth: dict[str, Any]) -> dict[str, str]:
    """Record id → person, through the sha256 of the tanC that the record keeps."""
    by_hash = {hashlib.sha256(s["tan_c"].lower().encode()).hexdigest(): s["person"]
               for s in truth["samples"] if s.get("tan_c")}
    return {key: by_hash[row["kdk_records.tan_hash"]] for key, row in rows.items()
            if row.get("kdk_records.tan_hash") in by_hash}


def _drop_copies(rows: Rows) -> list[str]:
    """Column names with one column per distinct content (a payload copy of a table column
    adds nothing to a join)."""
    seen: dict[frozenset[tuple[str, str]], str] = {}
    for column in sorted({c for row in rows.values() for c in row}):
        content = frozenset((k, row[column]) for k, row in rows.items() if column in row)
        seen.setdefault(content, column)
    return sorted(seen.values())


def get_shared_pairs(a: Rows, b: Rows) -> list[Pair]:
    """Column pairs (one per store) whose value sets overlap."""
    values_b = {c: {row[c] for row in b.values() if c in row} for c in _drop_copies(b)}
    pairs = []
    for column in _drop_copies(a):
        values = {row[column] for row in a.values() if column in row}
        pairs += [(column, other) for other, vb in values_b.items() if values & vb]
    return pairs


def _groups(rows: Rows, columns: Sequence[str]) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key, row in rows.items():
        if all(c in row for c in columns):
            groups[tuple(row[c] for c in columns)].append(key)
    return groups


def join_unique(a: Rows, b: Rows, key: Sequence[Pair]) -> list[tuple[str, str]]:
    """Row pairs whose key values are unique on both sides."""
    ga, gb = _groups(a, [p[0] for p in key]), _groups(b, [p[1] for p in key])
    return [(ga[k][0], gb[k][0]) for k in ga.keys() & gb.keys()
            if len(ga[k]) == 1 and len(gb[k]) == 1]


def _matched_values(a: Rows, b: Rows, key: Sequence[Pair]) -> int:
    return len(_groups(a, [p[0] for p in key]).keys() & _groups(b, [p[1] for p in key]).keys())


def get_candidate_keys(a: Rows, b: Rows, pairs: Sequence[Pair]) -> list[tuple[Pair, ...]]:
    """Single pairs, all same-named pairs together, and each step of the greedy search."""
    keys: list[tuple[Pair, ...]] = [(p,) for p in pairs]

    def base(column: str) -> str:
        return column.rsplit(".", 1)[-1]
    keys.append(tuple(p for p in pairs if base(p[0]) == base(p[1])))
    current: tuple[Pair, ...] = ()
    score = (0, 0)
    while True:
        options = [(_matched_values(a, b, (*current, p)), len(join_unique(a, b, (*current, p))),
                    p) for p in pairs if p not in current]
        best = max(options, default=None)
        if best is None or best[:2] <= score:
            return [k for k in keys if k]
        score, current = best[:2], (*current, best[2])
        keys.append(current)


def get_poisson_binomial_upper(probabilities: Iterable[float], quantile: float) -> int:
    """The smallest ``c`` with P(X > c) <= 1 - ``quantile``, X a sum of Bernoulli(p).

    >>> get_poisson_binomial_upper([0.5] * 4, 0.999), get_poisson_binomial_upper([1.0] * 3, 0.9)
    (4, 3)
    """
    dist = [1.0]
    for p in probabilities:
        dist = [(dist[i] if i < len(dist) else 0.0) * (1 - p) + (dist[i - 1] * p if i else 0.0)
                for i in range(len(dist) + 1)]
    above = 1.0
    for c, mass in enumerate(dist):
        above -= mass
        if above <= 1 - quantile + 1e-12:
            return c
    return len(dist) - 1


def get_chance(a: Store, b: Store, links: Sequence[tuple[str, str]]) -> tuple[float, int]:
    """Expected correct links and their 99.9 % bound under random assignment within blocks."""
    blocks = _groups(b.rows, REFERENCE[b.kind])
    probabilities = []
    for row_a, _row_b in links:
        values = a.rows[row_a]
        block = blocks.get(tuple(values.get(c, "") for c in REFERENCE[a.kind]), [])
        own = sum(1 for r in block if a.person.get(row_a) == b.person.get(r) is not None)
        probabilities.append(own / len(block) if block else 0.0)
    return sum(probabilities), get_poisson_binomial_upper(probabilities, UPPER_QUANTILE)


def find_strongest_linkage(a: Store, b: Store) -> Linkage:
    """The candidate key whose correct links exceed the chance bound most."""
    results = []
    for key in get_candidate_keys(a.rows, b.rows, get_shared_pairs(a.rows, b.rows)):
        links = join_unique(a.rows, b.rows, key)
        correct = sum(1 for x, y in links if a.person.get(x) == b.person.get(y) is not None)
        expected, bound = get_chance(a, b, links)
        results.append(Linkage(key, len(links), correct, expected, bound))
    return max(results, key=lambda r: (r.correct - r.bound, r.correct),
               default=Linkage((), 0, 0, 0.0, 0))


def get_store_pairs(stores: Sequence[Store]) -> list[tuple[Store, Store]]:
    """Every pair of different node stores."""
    return list(combinations(stores, 2))
