"""GA4GH Beacon v2 shaped feasibility requests and responses.

A request follows the Beacon v2 framework (``meta``, ``query.requestParameters``,
``query.filters``, ``query.requestedGranularity``); granularity ``boolean`` or ``count``
(``record`` is never offered: this is a controlled-access beacon). Filters are ontology-style ids;
several filters of one kind are alternatives (OR), different kinds must all hold (AND):

==================  ====================================  ============================
kind                filter id                             answered from
==================  ====================================  ============================
disease type        ``diseaseType:rare``                  GRZ or KDK
library type        ``libraryType:wgs``                   GRZ or KDK
sex                 ``NCIT:C16576`` (female),             KDK
                    ``NCIT:C20197`` (male), ``sex:male``
ICD-10-GM prefix    ``ICD10GM:G40`` (matches G40.3)       KDK
HPO term            ``HP:0001250``                        KDK
age band            ``ageBand:40-49``                     KDK
node                ``node:GRZK00001``, ``node:KDKHD0002``  that node
variant             ``requestParameters`` (below)         GRZ sites
==================  ====================================  ============================

Variant presence: ``requestParameters`` = ``{"assemblyId": "GRCh38", "referenceName": "chr1",
"start": 12344, "referenceBases": "A", "alternateBases": "C"}`` with Beacon's 0-based ``start``.

Examples
--------
>>> request = make_request(["diseaseType:rare", "HP:0001250"], granularity="count")
>>> parse_request(request).filters
{'disease_type': ('rare',), 'hpo': ('HP:0001250',)}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genomlab.errors import ValidationFailed

API_VERSION = "v2.0.0"
BEACON_ID = "de.genomlab.data-service"
Granularity = Literal["boolean", "count"]
SEX_CODES = {"NCIT:C16576": "female", "NCIT:C20197": "male"}
_PREFIXED = {"diseaseType": "disease_type", "libraryType": "library_type", "sex": "sex",
             "ageBand": "age_band", "node": "node", "ICD10GM": "icd10gm"}
_ICD = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{0,2})?$")
_HPO = re.compile(r"^HP:[0-9]{7}$")
_BASES = re.compile(r"^[ACGTN]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class BeaconFilter(_Model):
    id: str


class RequestParameters(_Model):
    assemblyId: str = "GRCh38"  # noqa: N815 (Beacon's field names)
    referenceName: str  # noqa: N815
    start: int = Field(ge=0)
    referenceBases: str  # noqa: N815
    alternateBases: str  # noqa: N815


class BeaconQuery(_Model):
    requestParameters: RequestParameters | None = None  # noqa: N815
    filters: list[BeaconFilter] = Field(default_factory=list)
    requestedGranularity: Granularity = "boolean"  # noqa: N815
    includeResultsetResponses: Literal["HIT", "MISS", "ALL", "NONE"] = "HIT"  # noqa: N815


class BeaconRequest(_Model):
    meta: dict[str, Any] = Field(default_factory=dict)
    query: BeaconQuery = BeaconQuery()


@dataclass(frozen=True)
class FeasibilityQuery:
    """A parsed request: filters by kind (sorted values), the variant and the granularity."""

    filters: dict[str, tuple[str, ...]]
    variant: str | None
    granularity: Granularity
    include: str = "HIT"


def make_request(filters: list[str] | tuple[str, ...] = (), *, variant: str | None = None,
                 granularity: Granularity = "boolean") -> dict[str, Any]:
    """A Beacon v2 request body; ``variant`` as ``chr1:12345:A:C`` (1-based position).

    Examples
    --------
    >>> make_request(variant="chr1:12345:A:C")["query"]["requestParameters"]["start"]
    12344
    """
    query: dict[str, Any] = {"filters": [{"id": f} for f in filters],
                             "requestedGranularity": granularity}
    if variant is not None:
        contig, position, ref, alt = _split_variant(variant)
        query["requestParameters"] = {"assemblyId": "GRCh38", "referenceName": contig,
                                      "start": position - 1, "referenceBases": ref,
                                      "alternateBases": alt}
    return {"meta": {"apiVersion": API_VERSION,
                     "requestedSchemas": [{"entityType": "individual"}]}, "query": query}


def _split_variant(variant: str) -> tuple[str, int, str, str]:
    parts = variant.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not all(_BASES.match(p) for p in parts[2:]):
        raise ValidationFailed(f"variant {variant!r}: expected contig:position:ref:alt")
    return parts[0], int(parts[1]), parts[2], parts[3]


def parse_filter(filter_id: str) -> tuple[str, str]:
    """(kind, value) of one filter id, or raise naming it.

    Examples
    --------
    >>> parse_filter("NCIT:C16576"), parse_filter("ICD10GM:g40")
    (('sex', 'female'), ('icd10gm', 'G40'))
    """
    if filter_id in SEX_CODES:
        return "sex", SEX_CODES[filter_id]
    if _HPO.match(filter_id):
        return "hpo", filter_id
    prefix, _, value = filter_id.partition(":")
    kind = _PREFIXED.get(prefix)
    if kind is None or not value:
        raise ValidationFailed(f"query.filters: unknown filter id {filter_id!r}")
    if kind == "icd10gm":
        value = value.upper()
        if not _ICD.match(value):
            raise ValidationFailed(f"query.filters: {filter_id!r} is not an ICD-10-GM prefix")
    return kind, value


def parse_request(body: dict[str, Any]) -> FeasibilityQuery:
    """The :class:`FeasibilityQuery` of a Beacon v2 request body, or raise naming the field."""
    try:
        request = BeaconRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ValidationFailed(f"beacon request: {where}: {error['msg']}") from None
    filters: dict[str, set[str]] = {}
    for item in request.query.filters:
        kind, value = parse_filter(item.id)
        filters.setdefault(kind, set()).add(value)
    variant = None
    params = request.query.requestParameters
    if params is not None:
        if params.assemblyId != "GRCh38":
            raise ValidationFailed("query.requestParameters.assemblyId: only GRCh38 is held")
        contig = params.referenceName if params.referenceName.startswith("chr") else (
            "chr" + params.referenceName)
        variant = f"{contig}:{params.start + 1}:{params.referenceBases}:{params.alternateBases}"
        _split_variant(variant)
    return FeasibilityQuery({k: tuple(sorted(v)) for k, v in sorted(filters.items())}, variant,
                            request.query.requestedGranularity,
                            request.query.includeResultsetResponses)
