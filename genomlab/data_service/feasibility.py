"""Answering a feasibility query from the feasibility index, audited against differencing.

:func:`run_feasibility_query` takes a Beacon v2 request (:mod:`~genomlab.data_service.beacon`),
picks the side that can answer it without linkage (genome datasets at the GRZs, clinical datasets
at the KDKs, or the GRZs' allele sites), counts with precomputed numpy masks, applies the
suppression rules of :mod:`~genomlab.data_service.suppression` and records the answer as a
``feasibility.answered`` event. A query never touches genotypes.

Each requester's answers are audited against that requester's own earlier answers (pairs and
three-query combinations, rule 3 of :mod:`~genomlab.data_service.suppression`), and each
requester has a **query budget**: at most ``disclosure.feasibility_budget`` answered queries
(default 100, any granularity, suppressed answers included) in any
``disclosure.feasibility_budget_days`` days (default 30, a rolling window on
:mod:`genomlab.clock`). A query over the budget is refused with
:class:`~genomlab.errors.PermissionDenied` naming the budget and when the next answer is
possible; nothing is recorded. The budget is what bounds colluding requesters, who could
otherwise split a differencing attack between accounts.

Before an approval there is no linkage, so a query mixes only filters one side holds: the
genome side knows disease type, library type and its GRZ; the clinical side knows those plus
sex, ICD-10-GM codes, HPO terms and the age band, and its KDK. Filters both sides hold are
answered on the genome side (every sequenced person, relatives included, has a genome dataset).
A variant is answered from the GRZs' site indexes and combines only with GRZ node filters.

Examples
--------
The committed world's clinical records through the KDKs' intake, indexed, then asked how many
women there are (the clinical side holds sex; 17 or more, the exact count withheld):

>>> import tempfile
>>> from pathlib import Path
>>> from genomlab import intake
>>> from genomlab.config import load_config
>>> from genomlab.data_service.adapters import get_node_readers
>>> from genomlab.data_service.beacon import make_request
>>> from genomlab.data_service.index import build_feasibility_index
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> world = Path("data_samples/world")
>>> _ = intake.register_world_nodes(config, world, actor="intake")
>>> _ = intake.request_world_case_numbers(config, world)
>>> _ = intake.record_world_consents(config, world)
>>> _ = intake.run_kdk_intake(config, sorted((world / "kdk").glob("*/records")))
>>> _ = build_feasibility_index(config, [], get_node_readers(config)[1])
>>> answer = run_feasibility_query(config, make_request(["NCIT:C16576"], granularity="count"),
...                                user="alice")
>>> answer["responseSummary"]
{'exists': True, 'numTotalResults': '≥17'}
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.data_service.beacon import API_VERSION, BEACON_ID, FeasibilityQuery, parse_request
from genomlab.data_service.index import FeasibilityIndex, load_feasibility_index
from genomlab.data_service.store import (
    get_answer_times,
    get_answered_queries,
    is_answered,
    open_data_service_ledger,
)
from genomlab.data_service.suppression import (
    SuppressedCounts,
    find_differencing,
    suppress_all,
    suppress_counts,
)
from genomlab.errors import PermissionDenied, ValidationFailed

GENOME_KINDS = frozenset({"disease_type", "library_type", "node"})
CLINICAL_KINDS = GENOME_KINDS | {"sex", "icd10gm", "hpo", "age_band"}


def choose_side(query: FeasibilityQuery) -> str:
    """``genomic``, ``clinical`` or ``variant``: the one side that can answer ``query``.

    Examples
    --------
    >>> from genomlab.data_service.beacon import FeasibilityQuery
    >>> choose_side(FeasibilityQuery({"hpo": ("HP:0001250",)}, None, "count"))
    'clinical'
    """
    kinds = set(query.filters)
    nodes = query.filters.get("node", ())
    grz = [n for n in nodes if n.startswith("GRZ")]
    kdk = [n for n in nodes if n.startswith("KDK")]
    if query.variant is not None:
        if kinds - {"node"} or kdk:
            raise ValidationFailed("query.filters: a variant query combines only with GRZ node "
                                   "filters (per-person genotypes are not linked before approval)")
        return "variant"
    if grz and kdk:
        raise ValidationFailed("query.filters: GRZ and KDK node filters cannot be combined "
                               "before approval (no linkage)")
    if kinds <= GENOME_KINDS and not kdk:
        return "genomic"
    if kinds <= CLINICAL_KINDS and not grz:
        return "clinical"
    raise ValidationFailed("query.filters: sex, ICD-10-GM, HPO and age-band filters are held by "
                           "the clinical nodes and cannot be combined with a GRZ node filter")


def _term_mask(index: FeasibilityIndex, side: str, kind: str, value: str) -> np.ndarray:
    frame = index.genome if side == "genomic" else index.clinical
    cache = index.masks
    key = (side, kind, value)
    if key not in cache:
        if kind == "icd10gm":
            expr = pl.col("icd10gm").list.eval(pl.element().str.starts_with(value)).list.any()
        elif kind == "hpo":
            expr = pl.col("hpo").list.contains(value)
        else:
            expr = pl.col(kind) == value
        cache[key] = frame.select(expr.fill_null(False))[:, 0].to_numpy().astype(bool)
    return cache[key]


def compute_mask(index: FeasibilityIndex, side: str,
                 filters: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Boolean mask over the side's dataset rows: OR within a kind, AND across kinds."""
    frame = index.genome if side == "genomic" else index.clinical
    mask = np.ones(frame.height, dtype=bool)
    for kind, values in filters.items():
        any_of = np.zeros(frame.height, dtype=bool)
        for value in values:
            any_of |= _term_mask(index, side, kind, value)
        mask &= any_of
    return mask


def _count_cells(index: FeasibilityIndex, query: FeasibilityQuery, side: str
                 ) -> tuple[dict[str, int], np.ndarray | None, np.ndarray | None]:
    if side == "variant":
        sites = index.sites.filter(pl.col("variant") == query.variant)
        wanted = query.filters.get("node") or index.nodes["genomic"]
        found = dict(zip(sites["node"].to_list(), sites["n_carriers"].to_list(), strict=True))
        return {node: int(found.get(node, 0)) for node in wanted}, None, None
    frame = index.genome if side == "genomic" else index.clinical
    mask = compute_mask(index, side, query.filters)
    groups = frame["node"].to_numpy()
    counts = dict(zip(*np.unique(groups[mask], return_counts=True), strict=True))
    return ({node: int(counts.get(node, 0)) for node in index.nodes[side]
             if "node" not in query.filters or node in query.filters["node"]}, mask, groups)


def check_query_budget(config: GenomlabConfig, conn: Any, user: str) -> None:
    """Refuse (:class:`PermissionDenied`) if ``user`` has used up the query budget.

    ``disclosure.feasibility_budget`` answered queries in the last
    ``disclosure.feasibility_budget_days`` days (rolling, on :func:`genomlab.clock.now`).
    """
    budget, days = (config.disclosure.feasibility_budget,
                    config.disclosure.feasibility_budget_days)
    since = clock.now() - timedelta(days=days)
    times = get_answer_times(conn, user, since.astimezone(UTC).isoformat(timespec="microseconds"))
    if len(times) >= budget:
        again = datetime.fromisoformat(times[len(times) - budget]) + timedelta(days=days)
        raise PermissionDenied(
            f"feasibility query budget used up: {user} has had {len(times)} of {budget} "
            f"answered queries in {days} days (disclosure.feasibility_budget); the next answer "
            f"is possible from {again.isoformat(timespec='seconds')}")


def _audit(config: GenomlabConfig, index: FeasibilityIndex, query: FeasibilityQuery, side: str,
           counts: SuppressedCounts, total: int, mask: np.ndarray | None,
           groups: np.ndarray | None, conn: Any, user: str) -> SuppressedCounts:
    k = config.disclosure.min_cell_count
    earlier = get_answered_queries(conn, side, user)
    key = json.dumps(query.filters, sort_keys=True)
    for row in earlier:
        if row.filters == key and row.variant == query.variant and 0 < abs(row.total - total) < k:
            return suppress_all(counts, "differencing: the same query changed by a small count")
    if mask is None or groups is None:
        return counts
    masks = [compute_mask(index, side, {kind: tuple(v) for kind, v in
                                        json.loads(row.filters).items()}) for row in earlier]
    found = find_differencing(mask, masks, groups, min_cell_count=k)
    return counts if found is None else suppress_all(counts, found.describe())


def build_response(query: FeasibilityQuery, side: str, counts: SuppressedCounts,
                   exists_by_node: dict[str, bool]) -> dict[str, Any]:
    """The Beacon v2 response body (``meta``, ``responseSummary``, ``response.resultSets``)."""
    count = query.granularity == "count"
    exists = any(exists_by_node.values())
    summary: dict[str, Any] = {"exists": exists}
    if count:
        summary["numTotalResults"] = counts.total
    result_sets = []
    for node, hit in exists_by_node.items():
        if query.include == "NONE" or (query.include == "HIT" and not hit) or (
                query.include == "MISS" and hit):
            continue
        entry: dict[str, Any] = {"id": node, "setType": "dataset", "exists": hit,
                                 "info": {"side": side}}
        if count:
            entry["resultsCount"] = counts.cells[node]
        result_sets.append(entry)
    return {
        "meta": {"beaconId": BEACON_ID, "apiVersion": API_VERSION,
                 "returnedGranularity": query.granularity,
                 "receivedRequestSummary": {
                     "filters": [f"{k}:{v}" for k, vs in query.filters.items() for v in vs],
                     "variant": query.variant, "requestedGranularity": query.granularity},
                 "returnedSchemas": [{"entityType": "genomicVariant" if side == "variant"
                                      else "individual"}]},
        "responseSummary": summary,
        "response": {"resultSets": result_sets},
        "info": {"suppression": list(counts.reasons) if count else [],
                 "countedUnit": "carriers" if side == "variant" else f"{side} datasets"},
    }


def get_retry_query_id(user: str, request_key: str, request: dict[str, Any]) -> str:
    """The query id of ``user``'s ``request`` sent with ``request_key`` (an ``Idempotency-Key``):
    the same for every retry of that request, another for another requester or for another
    request under the same key (so a reused key never answers a new question unrecorded).

    Examples
    --------
    >>> q = {"query": {"filters": [{"id": "NCIT:C16576"}]}}
    >>> get_retry_query_id("bob", "k1", q) == get_retry_query_id("bob", "k1", dict(q))
    True
    >>> get_retry_query_id("bob", "k1", q) == get_retry_query_id("eve", "k1", q)
    False
    >>> get_retry_query_id("bob", "k1", q) == get_retry_query_id("bob", "k1", {"query": {}})
    False
    """
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{user}\n{request_key}\n{canonical}".encode())
    return "r" + digest.hexdigest()[:31]


def run_feasibility_query(config: GenomlabConfig, request: dict[str, Any], *, user: str,
                          index: FeasibilityIndex | None = None,
                          request_key: str | None = None) -> dict[str, Any]:
    """Answer a Beacon v2 feasibility request for ``user``; suppressed, audited and recorded.

    Parameters
    ----------
    request:
        A Beacon v2 request body (see :func:`genomlab.data_service.beacon.make_request`).
    user:
        Who asks: the answer is audited against this requester's earlier answers and counted
        against their query budget (:func:`check_query_budget`), then recorded.
    index:
        The feasibility index; loaded (and cached) from the home when not given.
    request_key:
        The client's key for this request (``Idempotency-Key``): a retry with the same key,
        e.g. after the service died between recording the answer and sending it, is answered
        again without a second ``feasibility.answered`` and without counting against the budget.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.data_service.beacon import make_request
    >>> from genomlab.data_service.index import build_feasibility_index
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> _ = build_feasibility_index(config, [], [])  # no node has reported yet
    >>> answer = run_feasibility_query(config, make_request(variant="chr1:10:A:C"), user="bob")
    >>> answer["responseSummary"], answer["info"]["countedUnit"]
    ({'exists': False}, 'carriers')
    """
    query = parse_request(request)
    side = choose_side(query)
    index = index or load_feasibility_index(config)
    cells, mask, groups = _count_cells(index, query, side)
    total = sum(cells.values())
    counts = suppress_counts(cells, min_cell_count=config.disclosure.min_cell_count,
                             suppress_zeros=config.disclosure.suppress_zeros)
    ledger = open_data_service_ledger(config)
    query_id = (secrets.token_hex(8) if request_key is None
                else get_retry_query_id(user, request_key, request))
    with ledger.transaction() as tx:
        retry = request_key is not None and is_answered(tx.conn, query_id, user)
        if not retry:
            check_query_budget(config, tx.conn, user)
        if query.granularity == "count":  # a retry's own earlier answer is the same query
            counts = _audit(config, index, query, side, counts, total, mask, groups, tx.conn,
                            user)
        if not retry:
            tx.append("feasibility.answered", {
                "query_id": query_id, "user": user, "side": side,
                "filters": {k: list(v) for k, v in query.filters.items()},
                "variant": query.variant, "granularity": query.granularity, "total": total,
                "suppressed": counts.suppressed,
            }, actor=user, stream=f"feasibility:{user}")
            crashpoint("feasibility.appended")  # in the transaction, before the commit
    crashpoint("feasibility.committed")  # recorded, not yet answered
    return build_response(query, side, counts, {node: n > 0 for node, n in cells.items()})


def get_result_table(answer: dict[str, Any]) -> pl.DataFrame:
    """A Beacon answer as a table: one row per node and a ``total`` row (counts as text).

    Examples
    --------
    >>> answer = {"responseSummary": {"exists": True, "numTotalResults": "≥12"},
    ...           "response": {"resultSets": [{"id": "GRZK00001", "exists": True,
    ...                                        "resultsCount": 12}]}}
    >>> get_result_table(answer).rows()
    [('GRZK00001', True, '12'), ('total', True, '≥12')]
    """
    summary = answer["responseSummary"]
    rows = [(r["id"], r["exists"], str(r.get("resultsCount", ""))) for r in
            answer["response"]["resultSets"]]
    rows.append(("total", summary["exists"], str(summary.get("numTotalResults", ""))))
    return pl.DataFrame(rows, schema={"node": pl.String, "exists": pl.Boolean,
                                      "count": pl.String}, orient="row")
