"""DUO matching: an application's purpose against consent scope and each dataset's DUO tags.

The DUO permissions form a hierarchy (EBISPOT/DUO README): data tagged with a broader permission
serve every narrower purpose, ``NRES ⊇ GRU ⊇ HMB ⊇ DS`` and ``GRU ⊇ POA``; HMB explicitly excludes
population-origins/ancestry research. DS data serve a DS purpose whose disease equals or descends
from the dataset's disease: ICD-10-GM codes descend by prefix (C50.1 within C50); for MONDO ids
genomlab carries no ontology offline, so only an exact match is decided automatically and any
other pair goes to the committee.

Each dataset gets one verdict, the worst of its reasons: ``allowed`` (automatically),
``needs_review`` (the committee must check something a machine cannot) or ``blocked`` (a rule
forbids it). REMS matches exact codes only and checks nothing but DS and MOR; EGA leaves
everything to the DAC.

Research use needs the participants' research consent (§ 64e (6) SGB V). The MII Broad Consent
(policies …24.5.3.1 / …24.5.3.8) permits medical research, i.e. the consent scope is HMB: a GRU or
POA research purpose exceeds it. The other three § 64e (9) purposes rest on the model-project
consent and need no research consent.

Examples
--------
>>> from genomlab.platform.applications.models import ApplicationForm, DatasetTags
>>> form = ApplicationForm(title="Lung cancer", lay_summary="l", scientific_abstract="a",
...     purposes=("research",), duo_permission="DS", disease="C34.1",
...     data_categories=("genomic",), ethics_vote_reference="EK 123/2026")
>>> tags = DatasetTags(dataset_id="grz-wgs", title="WGS", data_category="genomic",
...     duo_permission="DS", disease="C34")
>>> [(v.subject, v.verdict) for v in match_application(form, [tags])]
[('research-consent', 'allowed'), ('grz-wgs', 'allowed')]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from genomlab.platform.applications.models import (
    ICD10GM,
    ApplicationForm,
    DatasetTags,
    DuoPermission,
)

Verdict = Literal["allowed", "needs_review", "blocked"]
_SEVERITY: dict[Verdict, int] = {"allowed": 0, "needs_review": 1, "blocked": 2}

RESEARCH_CONSENT_SCOPE: DuoPermission = "HMB"
"""What the MII Broad Consent permits: medical research
(MDAT_wissenschaftlich_nutzen_EU_DSGVO_NIVEAU)."""

PERMISSION_SERVES: dict[DuoPermission, frozenset[DuoPermission]] = {
    "NRES": frozenset({"NRES", "GRU", "HMB", "DS", "POA"}),
    "GRU": frozenset({"GRU", "HMB", "DS", "POA"}),
    "HMB": frozenset({"HMB", "DS"}),
    "DS": frozenset({"DS"}),
    "POA": frozenset({"POA"}),
}
"""Dataset permission → the requested permissions it serves (the DUO hierarchy)."""

ACCEPTED_BY_APPLICANT = frozenset({"PUB", "MOR", "RTN", "COL"})
"""Modifiers that oblige the requester; satisfied when the application lists (accepts) them."""
BY_CONSTRUCTION = frozenset({"US", "PS", "IS"})
"""Satisfied by genomlab itself: entitlements are per user, per project and per institution."""
COMMITTEE_CHECKS = frozenset({"RS", "NMDS"})
"""Need a human judgement of the research question."""
PROCESSING_REGIONS = frozenset({"DE", "EU"})
"""Where genomlab processes data: inside the platform's SPE in Germany (§ 64e (11a))."""


@dataclass(frozen=True)
class DuoTerm:
    """One DUO term: its id (``DUO:0000042``), shorthand code, kind and label."""

    id: str
    code: str
    kind: Literal["permission", "modifier"]
    label: str


@cache
def get_duo_terms() -> dict[str, DuoTerm]:
    """The vendored DUO terms genomlab uses, by shorthand code (offline; EBISPOT/DUO duo.csv).

    Examples
    --------
    >>> get_duo_terms()["GRU"].id
    'DUO:0000042'
    """
    text = resources.files("genomlab.platform.applications").joinpath("duo.json").read_text()
    return {t["code"]: DuoTerm(**t) for t in json.loads(text)["terms"]}


def duo_modifier_codes() -> frozenset[str]:
    """Shorthand codes of the DUO modifiers genomlab knows."""
    return frozenset(c for c, t in get_duo_terms().items() if t.kind == "modifier")


def format_duo(code: str) -> str:
    """``GRU (DUO:0000042)``."""
    return f"{code} ({get_duo_terms()[code].id})"


@dataclass(frozen=True)
class MatchVerdict:
    """The verdict on one subject (a dataset id, or ``research-consent``) with its reasons."""

    subject: str
    verdict: Verdict
    reasons: tuple[str, ...]


def is_disease_within(requested: str, allowed: str) -> bool | None:
    """Whether disease ``requested`` equals or descends from ``allowed``; ``None``: unknown offline.

    Examples
    --------
    >>> is_disease_within("C50.1", "C50"), is_disease_within("C50", "C50.1")
    (True, False)
    >>> is_disease_within("MONDO:0007254", "MONDO:0004992") is None
    True
    """
    if requested == allowed:
        return True
    if ICD10GM.match(requested) and ICD10GM.match(allowed):
        return requested.replace(".", "").startswith(allowed.replace(".", ""))
    return None


def _worst(parts: Iterable[tuple[Verdict, str]], subject: str) -> MatchVerdict:
    parts = list(parts)
    verdict: Verdict = max((v for v, _ in parts), key=_SEVERITY.__getitem__, default="allowed")
    return MatchVerdict(subject, verdict, tuple(reason for _, reason in parts))


def _permission(form: ApplicationForm, have: DuoPermission, disease: str | None,
                what: str) -> tuple[Verdict, str]:
    want = form.duo_permission
    if want not in PERMISSION_SERVES[have]:
        if want == "POA" and have in ("HMB", "DS"):
            return "blocked", f"{what} {format_duo(have)} excludes population-origins research"
        return "blocked", (f"requested {format_duo(want)} is broader than {what} "
                           f"{format_duo(have)}; narrow the purpose")
    if have == "DS" and disease is not None and form.disease is not None:
        within = is_disease_within(form.disease, disease)
        if within is None:
            return "needs_review", (f"disease {form.disease} vs {what} disease {disease}: "
                                    "ancestry not known offline, the committee checks it")
        if not within:
            return "blocked", f"disease {form.disease} is not within {what} disease {disease}"
        return "allowed", f"DS {form.disease} is within {what} DS {disease}"
    return "allowed", f"requested {format_duo(want)} is within {what} {format_duo(have)}"


def _modifier(form: ApplicationForm, tags: DatasetTags, code: str) -> tuple[Verdict, str]:
    if code in ("NCU", "NPU", "NPUNCU"):
        if form.commercial:
            return "blocked", f"{format_duo(code)}: the application declares commercial use"
        return "allowed", f"{code}: non-commercial use declared"
    if code == "IRB":
        if (form.ethics_vote_reference or "").strip():
            return "allowed", f"IRB: ethics vote {form.ethics_vote_reference}"
        return "blocked", f"{format_duo(code)}: no ethics vote reference given"
    if code == "TS":
        limit = tags.max_months
        if limit is not None and form.duration_months > limit:
            return "blocked", (f"{format_duo(code)}: {form.duration_months} months requested, "
                               f"limit {limit}")
        return "allowed", f"TS: {form.duration_months} months within limit {limit or 'unset'}"
    if code == "GSO":
        if "genomic" in form.data_categories:
            return "allowed", "GSO: genomic data requested"
        return "blocked", f"{format_duo(code)}: phenotype-only study of genetic-studies-only data"
    if code == "NPOA":
        if form.duo_permission == "POA":
            return "blocked", f"{format_duo(code)}: ancestry research prohibited"
        return "allowed", "NPOA: no ancestry research requested"
    if code == "GS":
        outside = sorted(set(tags.regions) - PROCESSING_REGIONS)
        if tags.regions and not outside:
            return "allowed", f"GS: processed inside the platform's SPE ({', '.join(tags.regions)})"
        return "needs_review", f"{format_duo(code)}: region(s) {', '.join(outside) or 'unset'}"
    if code in ACCEPTED_BY_APPLICANT:
        if code in form.duo_modifiers:
            return "allowed", f"{code}: accepted by the applicant"
        return "blocked", f"{format_duo(code)}: the applicant has not accepted it"
    if code in BY_CONSTRUCTION:
        return "allowed", f"{code}: entitlements are per user, project and institution"
    if code in COMMITTEE_CHECKS:
        return "needs_review", f"{format_duo(code)}: the committee checks the research type"
    return "allowed", f"{code}: no condition on the requester"


def match_consent(form: ApplicationForm) -> MatchVerdict:
    """The purposes against the participants' consent (§ 64e (6)); see the module docstring."""
    parts: list[tuple[Verdict, str]] = []
    other = [p for p in form.purposes if p != "research"]
    if other:
        parts.append(("allowed", f"{', '.join(other)}: covered by the model-project consent "
                                 "(mvSequencing), no research consent needed"))
    if "research" in form.purposes:
        verdict, reason = _permission(form, RESEARCH_CONSENT_SCOPE, None,
                                      "the MII Broad Consent scope")
        parts.append((verdict, reason))
        parts.append(("allowed", "only participants with an active research consent are released"))
    return _worst(parts, "research-consent")


def match_application(form: ApplicationForm, datasets: Sequence[DatasetTags]) -> list[MatchVerdict]:
    """Consent verdict first, then one verdict per tagged dataset of a requested data category.

    Examples
    --------
    >>> from genomlab.platform.applications.models import ApplicationForm, DatasetTags
    >>> form = ApplicationForm(title="Ancestry", lay_summary="l", scientific_abstract="a",
    ...     purposes=("evaluation",), duo_permission="POA", data_categories=("genomic",))
    >>> hmb = DatasetTags(dataset_id="g", title="g", data_category="genomic", duo_permission="HMB")
    >>> match_application(form, [hmb])[1].reasons
    ('dataset HMB (DUO:0000006) excludes population-origins research',)
    """
    verdicts = [match_consent(form)]
    relevant = [d for d in datasets if d.data_category in form.data_categories]
    for tags in relevant:
        parts = [_permission(form, tags.duo_permission, tags.disease, "dataset")]
        parts += [_modifier(form, tags, code) for code in tags.duo_modifiers]
        verdicts.append(_worst(parts, tags.dataset_id))
    for category in sorted(set(form.data_categories) - {d.data_category for d in relevant}):
        verdicts.append(MatchVerdict(f"{category}-data", "needs_review",
                                     (f"no {category} dataset carries DUO tags yet",)))
    return verdicts


def get_overall_verdict(verdicts: Sequence[MatchVerdict]) -> Verdict:
    """The worst verdict of all subjects."""
    return max((v.verdict for v in verdicts), key=_SEVERITY.__getitem__, default="allowed")
