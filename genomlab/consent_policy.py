"""Which consent a use of a person's data needs, by purpose, with the rule's legal source.

§ 64e (9) SGB V lets the platform's data serve four purposes: improving care, quality assurance,
evaluation of the model project and scientific research. Only research needs the patient's
prior research consent (§ 64e (6); MII Broad Consent, genomde.md § 7.2); the other three rest on
the participation in the model project (mvSequencing, checked when the data were submitted).
The two ways back to a person need their own model-project consent scope (genomde.md § 8.4):
case identification (``caseIdentification``, and research consent: § 64e (6) names it beside
research) and informing the treating hospital of a finding (``reIdentification``).

A person's consent is given as scope → ``permit``/``deny`` (a missing scope counts as not
given). :func:`can_use_for` answers with the rule applied, so a refusal can name its source.

Examples
--------
>>> can_use_for("quality_assurance", {}).allowed
True
>>> decision = can_use_for("research", {"research": "deny"})
>>> decision.allowed, decision.missing
(False, ('research',))
>>> decision.rule.source
'§ 64e (6) SGB V: research use only with the prior research consent'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

UsePurpose = Literal[
    "care",
    "quality_assurance",
    "evaluation",
    "research",
    "case_identification",
    "re_identification",
]
USE_PURPOSES: tuple[str, ...] = get_args(UsePurpose)


@dataclass(frozen=True)
class ConsentRule:
    """The consent scopes a purpose needs (all permitted) and where the law says so."""

    purpose: UsePurpose
    requires: tuple[str, ...]
    source: str


RULES: Mapping[str, ConsentRule] = MappingProxyType(
    {
        "care": ConsentRule(
            "care",
            (),
            "§ 64e (9) sentence 1 no. 1 SGB V: improving care rests on "
            "the model-project participation, no research consent",
        ),
        "quality_assurance": ConsentRule(
            "quality_assurance",
            (),
            "§ 64e (9) sentence 1 no. 2 SGB V: quality assurance without research consent",
        ),
        "evaluation": ConsentRule(
            "evaluation",
            (),
            "§ 64e (9) sentence 1 no. 3 SGB V: evaluation of the model project "
            "without research consent",
        ),
        "research": ConsentRule(
            "research",
            ("research",),
            "§ 64e (6) SGB V: research use only with the prior research consent",
        ),
        "case_identification": ConsentRule(
            "case_identification",
            ("research", "caseIdentification"),
            "§ 64e (6) SGB V, GenDV § 7: case identification with research consent and the "
            "mvConsent scope caseIdentification",
        ),
        "re_identification": ConsentRule(
            "re_identification",
            ("reIdentification",),
            "GenDV § 7: informing the treating LE of a finding with the mvConsent scope "
            "reIdentification",
        ),
    }
)
"""One rule per purpose of :data:`USE_PURPOSES`."""


@dataclass(frozen=True)
class ConsentDecision:
    """Whether a person's consent allows a purpose, the rule applied and the scopes missing."""

    purpose: str
    allowed: bool
    rule: ConsentRule
    missing: tuple[str, ...]

    def reason(self) -> str:
        """One line for a refusal (or an allowance), naming the rule's source."""
        if self.allowed:
            return f"{self.purpose}: allowed ({self.rule.source})"
        return (
            f"{self.purpose}: consent {', '.join(self.missing)} not permitted ({self.rule.source})"
        )


def get_rule(purpose: str) -> ConsentRule:
    """The rule of ``purpose``; raises :class:`ValueError` naming the known purposes."""
    try:
        return RULES[purpose]
    except KeyError:
        raise ValueError(
            f"field purpose: {purpose!r} is not one of {', '.join(USE_PURPOSES)}"
        ) from None


def can_use_for(purpose: str, consent: Mapping[str, str]) -> ConsentDecision:
    """Whether a person with ``consent`` (scope → permit/deny) may be used for ``purpose``.

    Examples
    --------
    >>> can_use_for("case_identification", {"research": "permit"}).missing
    ('caseIdentification',)
    >>> can_use_for("evaluation", {"research": "deny"}).allowed
    True
    """
    rule = get_rule(purpose)
    missing = tuple(scope for scope in rule.requires if consent.get(scope) != "permit")
    return ConsentDecision(purpose, not missing, rule, missing)


def required_scopes(purposes: Iterable[str]) -> tuple[str, ...]:
    """The consent scopes every one of ``purposes`` together needs (sorted).

    Examples
    --------
    >>> required_scopes(["quality_assurance", "evaluation"])
    ()
    >>> required_scopes(["evaluation", "research"])
    ('research',)
    """
    return tuple(sorted({scope for purpose in purposes for scope in get_rule(purpose).requires}))
