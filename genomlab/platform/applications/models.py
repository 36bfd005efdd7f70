"""The data-use application (§ 64e (9)–(11b) SGB V) and the platform's dataset DUO tags.

An application names the applicant and team (the authorised users), the project, its § 64e
purposes, its DUO permission and modifiers (with a disease for DS), the data requested, the level
(aggregated by default; pseudonymised individual records only with the justification § 64e (11a)
asks for), the duration, the ethics vote and the accepted terms of use.

:class:`ApplicationForm` checks the structure (a draft must already be well-formed);
:func:`check_submittable` adds the rules a submission must meet.

Examples
--------
>>> form = ApplicationForm(title="BRCA1 carriers", lay_summary="Who carries what.",
...     scientific_abstract="We estimate penetrance.", purposes=("research",),
...     duo_permission="DS", disease="C50", data_categories=("genomic",))
>>> form.level
'aggregated'
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genomlab.errors import ValidationFailed
from genomlab.messages import CohortCriteria, DataLevel, Purpose

TERMS_OF_USE_VERSION = "genomDE-Nutzungsbedingungen-2026-01"
"""The terms of use an applicant must accept (duties of § 64e (11b): purpose binding, no passing
on, report results, no re-identification)."""

MIN_INDIVIDUAL_JUSTIFICATION = 50
"""Characters: § 64e (11a) allows individual records only if the purpose requires them, which the
application must explain in more than a phrase."""

DuoPermission = Literal["NRES", "GRU", "HMB", "DS", "POA"]
ICD10GM = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?$")
MONDO = re.compile(r"^MONDO:[0-9]{7}$")


class Status(StrEnum):
    """Workflow states (REMS: draft → submitted ⇄ returned → approved / rejected / closed / revoked,
    plus genomlab's ``under_review`` and ``expired``)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    CLOSED = "closed"
    REVOKED = "revoked"
    EXPIRED = "expired"


OPEN_STATUSES = (Status.SUBMITTED, Status.RETURNED, Status.UNDER_REVIEW)
"""Applications waiting for the platform or the applicant."""


class Role(StrEnum):
    """Platform roles, granted as events by an admin."""

    HANDLER = "handler"
    COMMITTEE = "committee"
    DECIDER = "decider"
    ADMIN = "admin"
    OUTPUT_CHECKER = "output_checker"  # reviews airlock release requests (never their own)


Vote = Literal["approve", "reject", "abstain"]
ResultKind = Literal["publication", "report", "dataset", "software"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_modifiers(value: tuple[str, ...]) -> tuple[str, ...]:
    from genomlab.platform.applications.duo import duo_modifier_codes

    unknown = sorted(set(value) - duo_modifier_codes())
    if unknown:
        raise ValueError(f"unknown DUO modifier(s) {', '.join(unknown)}")
    return tuple(sorted(set(value)))


def _check_disease(value: str | None) -> str | None:
    if value is not None and not (ICD10GM.match(value) or MONDO.match(value)):
        raise ValueError(f"expected an ICD-10-GM code (C50, C50.1) or MONDO:0000000, got {value!r}")
    return value


class ApplicationForm(_Frozen):
    """What an applicant fills in. The applicant is always a team member."""

    title: str = Field(min_length=3, max_length=300)
    lay_summary: str = Field(min_length=1, max_length=2000)
    scientific_abstract: str = Field(min_length=1, max_length=6000)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    duo_permission: DuoPermission
    duo_modifiers: tuple[str, ...] = ()
    disease: str | None = Field(default=None, description="ICD-10-GM code or MONDO id, for DS")
    data_categories: tuple[Literal["clinical", "genomic"], ...] = Field(min_length=1)
    clinical_fields: tuple[str, ...] = ()
    criteria: CohortCriteria = CohortCriteria()
    level: DataLevel = "aggregated"
    individual_justification: str | None = None
    duration_months: int = Field(default=12, ge=1, le=60)
    ethics_vote_reference: str | None = None
    accepted_terms: str | None = Field(default=None, description="version of the accepted terms")
    commercial: bool = False
    team: tuple[str, ...] = ()

    _modifiers = field_validator("duo_modifiers")(_check_modifiers)
    _disease = field_validator("disease")(_check_disease)

    @model_validator(mode="after")
    def _ds_needs_disease(self) -> ApplicationForm:
        if self.duo_permission == "DS" and self.disease is None:
            raise ValueError("disease: DS (disease-specific research) needs a disease")
        if self.duo_permission != "DS" and self.disease is not None:
            raise ValueError("disease: only DS takes a disease")
        if "clinical" not in self.data_categories and self.clinical_fields:
            raise ValueError("clinical_fields: requested without the clinical data category")
        return self


def parse_form(data: dict, *, source: str = "application form") -> ApplicationForm:
    """Validate form data; a failure is one line naming the source and the field.

    Examples
    --------
    >>> try:
    ...     parse_form({"title": "x"})
    ... except ValidationFailed as exc:
    ...     print(str(exc)[:46])
    application form: title: String should have at
    """
    try:
        return ApplicationForm.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "missing required field"
        elif "input" in error and not isinstance(error["input"], dict):
            message += f" (got {error['input']!r})"
        raise ValidationFailed(f"{source}: {field}: {message}") from None


def find_submission_problems(form: ApplicationForm) -> list[tuple[str, str]]:
    """``(field, problem)`` for each rule a submission breaks beyond the form's structure.

    - the current terms of use are accepted;
    - individual-level data come with a § 64e (11a) justification of at least
      ``MIN_INDIVIDUAL_JUSTIFICATION`` characters;
    - research (§ 64e (9) no. 4) and the IRB modifier need an ethics vote reference.

    ``apply check`` lists them all; :func:`check_submittable` refuses a submission on the first.

    Examples
    --------
    >>> form = ApplicationForm(title="t t", lay_summary="l", scientific_abstract="a",
    ...     purposes=("research",), duo_permission="HMB", data_categories=("clinical",))
    >>> [field for field, _ in find_submission_problems(form)]
    ['accepted_terms', 'ethics_vote_reference']
    """
    problems = []
    if form.accepted_terms != TERMS_OF_USE_VERSION:
        problems.append(("accepted_terms",
                         f"accept the terms of use {TERMS_OF_USE_VERSION} before submitting"))
    justification = (form.individual_justification or "").strip()
    if form.level == "individual" and len(justification) < MIN_INDIVIDUAL_JUSTIFICATION:
        problems.append(("individual_justification",
                         "individual records need a § 64e (11a) justification of at least "
                         f"{MIN_INDIVIDUAL_JUSTIFICATION} characters"))
    if ("research" in form.purposes or "IRB" in form.duo_modifiers) and not (
            form.ethics_vote_reference or "").strip():
        problems.append(("ethics_vote_reference",
                         "research use needs the reference of an ethics committee vote"))
    return problems


def check_submittable(form: ApplicationForm, application_id: str) -> None:
    """Raise :class:`ValidationFailed` on the first of :func:`find_submission_problems`.

    Examples
    --------
    >>> form = ApplicationForm(title="t t", lay_summary="l", scientific_abstract="a",
    ...     purposes=("quality_assurance",), duo_permission="HMB", data_categories=("clinical",))
    >>> try:
    ...     check_submittable(form, "APP-1")
    ... except ValidationFailed as exc:
    ...     print(str(exc)[:42])
    APP-1: accepted_terms: accept the terms of
    """
    for field, problem in find_submission_problems(form):
        raise ValidationFailed(f"{application_id}: {field}: {problem}")


class DatasetTags(_Frozen):
    """A dataset the platform offers, with the DUO tags its consents and providers set."""

    dataset_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    title: str = Field(min_length=1, max_length=200)
    data_category: Literal["clinical", "genomic"]
    duo_permission: DuoPermission
    duo_modifiers: tuple[str, ...] = ()
    disease: str | None = None
    max_months: int | None = Field(default=None, ge=1, description="the TS modifier's limit")
    regions: tuple[str, ...] = Field(default=(), description="the GS modifier's regions (ISO)")

    _modifiers = field_validator("duo_modifiers")(_check_modifiers)
    _disease = field_validator("disease")(_check_disease)
