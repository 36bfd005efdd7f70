"""Purpose-aware consent (issue 18): research and case identification need research consent,
quality assurance and evaluation do not (§ 64e (6), (9) SGB V)."""

from __future__ import annotations

import pytest

from genomlab.consent_policy import RULES, USE_PURPOSES, can_use_for, required_scopes

NO_RESEARCH = {"research": "deny", "mvSequencing": "permit"}
EVERYTHING = {
    "research": "permit",
    "mvSequencing": "permit",
    "reIdentification": "permit",
    "caseIdentification": "permit",
}


@pytest.mark.parametrize("purpose", ["quality_assurance", "evaluation", "care"])
def test_can_use_for__without_research_consent_allowed_for_non_research_purposes(purpose):
    decision = can_use_for(purpose, NO_RESEARCH)
    assert decision.allowed
    assert decision.missing == ()
    assert "§ 64e (9)" in decision.rule.source
    assert can_use_for(purpose, {}).allowed


@pytest.mark.parametrize(
    ("purpose", "consent", "missing"),
    [
        ("research", NO_RESEARCH, ("research",)),
        ("research", {}, ("research",)),
        ("case_identification", NO_RESEARCH, ("research", "caseIdentification")),
        ("case_identification", {"research": "permit"}, ("caseIdentification",)),
        (
            "case_identification",
            {"research": "permit", "caseIdentification": "deny"},
            ("caseIdentification",),
        ),
        ("re_identification", {"research": "permit"}, ("reIdentification",)),
    ],
)
def test_can_use_for__consent_missing_is_refused_naming_rule(purpose, consent, missing):
    decision = can_use_for(purpose, consent)
    assert not decision.allowed
    assert decision.missing == missing
    assert decision.rule.source in decision.reason()
    assert all(scope in decision.reason() for scope in missing)


@pytest.mark.parametrize("purpose", ["research", "case_identification", "re_identification"])
def test_can_use_for__with_the_consent_allowed(purpose):
    assert can_use_for(purpose, EVERYTHING).allowed


def test_can_use_for__unknown_purpose_refused():
    with pytest.raises(ValueError, match="field purpose: 'marketing'"):
        can_use_for("marketing", EVERYTHING)


def test_rules__every_purpose_has_a_rule_with_its_source():
    assert set(RULES) == set(USE_PURPOSES)
    assert all(rule.source and rule.purpose == name for name, rule in RULES.items())


def test_required_scopes__union_over_purposes():
    assert required_scopes(["quality_assurance", "evaluation"]) == ()
    assert required_scopes(["evaluation", "research"]) == ("research",)
    assert required_scopes(["case_identification"]) == ("caseIdentification", "research")
