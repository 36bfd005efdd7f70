"""DUO matching along the hierarchy, with explained verdicts."""

from __future__ import annotations

import pytest

from genomlab.platform.applications.duo import (
    get_duo_terms,
    get_overall_verdict,
    is_disease_within,
    match_application,
    match_consent,
)
from genomlab.platform.applications.models import DatasetTags
from tests.platform.conftest import make_form


def _tags(permission: str, *modifiers: str, **kw) -> DatasetTags:
    return DatasetTags(dataset_id="d1", title="genomes", data_category="genomic",
                       duo_permission=permission, duo_modifiers=modifiers, **kw)


def _verdict(form_changes: dict, tags: DatasetTags) -> tuple[str, tuple[str, ...]]:
    verdict = match_application(make_form(data_categories=("genomic",), **form_changes),
                                [tags])[1]
    assert verdict.subject == "d1"
    return verdict.verdict, verdict.reasons


@pytest.mark.parametrize(("dataset", "requested", "expected"), [
    ("GRU", "HMB", "allowed"),
    ("GRU", "DS", "allowed"),
    ("GRU", "POA", "allowed"),
    ("HMB", "DS", "allowed"),
    ("HMB", "HMB", "allowed"),
    ("HMB", "GRU", "blocked"),
    ("HMB", "POA", "blocked"),
    ("DS", "HMB", "blocked"),
    ("NRES", "GRU", "allowed"),
    ("POA", "HMB", "blocked"),
])
def test_match_application__follows_the_duo_hierarchy(dataset: str, requested: str,
                                                      expected: str) -> None:
    disease = {"disease": "C50"} if requested == "DS" else {"disease": None}
    tags = _tags(dataset, disease="C50" if dataset == "DS" else None)
    verdict, reasons = _verdict({"duo_permission": requested, **disease}, tags)
    assert verdict == expected, reasons
    assert get_duo_terms()[dataset].id in reasons[0]


def test_match_application__ds_disease_descends_by_icd_prefix() -> None:
    tags = _tags("DS", disease="C50")
    assert _verdict({"disease": "C50.1"}, tags)[0] == "allowed"
    verdict, reasons = _verdict({"disease": "C34"}, tags)
    assert verdict == "blocked"
    assert reasons == ("disease C34 is not within dataset disease C50",)


def test_match_application__unknown_mondo_ancestry_goes_to_committee() -> None:
    verdict, reasons = _verdict({"disease": "MONDO:0007254"}, _tags("DS", disease="MONDO:0004992"))
    assert verdict == "needs_review"
    assert "not known offline" in reasons[0]
    assert is_disease_within("MONDO:0004992", "MONDO:0004992") is True


@pytest.mark.parametrize(("modifier", "form_changes", "expected"), [
    ("NCU", {"commercial": True}, "blocked"),
    ("NCU", {}, "allowed"),
    ("IRB", {"ethics_vote_reference": None}, "blocked"),
    ("IRB", {}, "allowed"),
    ("PUB", {"duo_modifiers": ()}, "blocked"),
    ("PUB", {"duo_modifiers": ("PUB",)}, "allowed"),
    ("TS", {"duration_months": 24}, "blocked"),
    ("TS", {"duration_months": 6}, "allowed"),
    ("RS", {}, "needs_review"),
    ("US", {}, "allowed"),
    ("GSO", {"data_categories": ("clinical",)}, "blocked"),
])
def test_match_application__modifiers_explain_their_verdict(modifier: str, form_changes: dict,
                                                            expected: str) -> None:
    tags = _tags("GRU", modifier, max_months=12)
    form = make_form(**{"data_categories": ("genomic",), **form_changes})
    tags = tags.model_copy(update={"data_category": form.data_categories[0]})
    verdicts = match_application(form, [tags])
    assert verdicts[1].verdict == expected, verdicts[1].reasons
    assert any(r.startswith(modifier) for r in verdicts[1].reasons)


def test_match_consent__research_beyond_broad_consent_is_blocked() -> None:
    assert match_consent(make_form(duo_permission="HMB", disease=None)).verdict == "allowed"
    blocked = match_consent(make_form(duo_permission="GRU", disease=None))
    assert blocked.verdict == "blocked"
    assert "MII Broad Consent scope HMB" in blocked.reasons[0]
    care = match_consent(make_form(purposes=("care",), duo_permission="GRU", disease=None))
    assert care.verdict == "allowed"
    assert "no research consent needed" in care.reasons[0]


def test_match_application__untagged_category_needs_review() -> None:
    verdicts = match_application(make_form(), [_tags("GRU")])
    assert [v.subject for v in verdicts] == ["research-consent", "d1", "clinical-data"]
    assert get_overall_verdict(verdicts) == "needs_review"
