"""A platform with users of several institutions, roles and a controllable clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import ApplicationForm, DatasetTags, Role, Workflow
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

PEOPLE = {
    # user: (institution, roles)
    "hanna": ("BfArM", (Role.HANDLER, Role.OUTPUT_CHECKER)),
    "dora": ("BfArM", (Role.DECIDER,)),
    "dieter": ("BfArM", (Role.DECIDER,)),
    "kurt": ("Charité", (Role.COMMITTEE,)),
    "klara": ("LMU München", (Role.COMMITTEE,)),
    "ute": ("Uni Tübingen", (Role.HANDLER, Role.COMMITTEE, Role.DECIDER, Role.OUTPUT_CHECKER)),
    "alice": ("Uni Tübingen", ()),
    "tom": ("UKE Hamburg", ()),
    "bob": ("Uni Köln", ()),
}


class Clock:
    """A clock tests move forward."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_form(**changes: Any) -> ApplicationForm:
    data: dict[str, Any] = {
        "title": "Penetrance of BRCA1 variants in hereditary breast cancer",
        "lay_summary": "How often do carriers of BRCA1 variants fall ill?",
        "scientific_abstract": "We estimate age-specific penetrance from genomDE cases.",
        "purposes": ("research",),
        "duo_permission": "DS",
        "disease": "C50",
        "duo_modifiers": ("PUB",),
        "data_categories": ("genomic", "clinical"),
        "clinical_fields": ("diagnosis", "age_at_diagnosis"),
        "criteria": {"disease_types": ("hereditary",), "icd10gm_prefixes": ("C50",)},
        "duration_months": 12,
        "ethics_vote_reference": "EK Tübingen 123/2026BO2",
        "accepted_terms": TERMS_OF_USE_VERSION,
        "team": ("tom",),
    }
    if "clinical" not in changes.get("data_categories", ("clinical",)):
        data["clinical_fields"] = ()
    data.update(changes)
    return ApplicationForm.model_validate(data)


def credentials_of(config: GenomlabConfig, user: str) -> Path:
    """``user``'s credentials file in the embedded default place, issued on first use as the
    platform's operator issues it (``genomlab platform users issue-credential``)."""
    from genomlab.platform.person_credentials import (
        PersonCredentials,
        get_embedded_credentials_path,
        issue_person_credential,
        save_person_credentials,
    )

    path = get_embedded_credentials_path(config, user)
    if not path.exists():
        issued = issue_person_credential(config, user, actor="operator:test", replace=True)
        save_person_credentials(path, PersonCredentials(issued.client_id, issued.client_secret,
                                                        user))
    return path


@dataclass
class World:
    config: GenomlabConfig
    clock: Clock
    wf: Workflow

    def submitted(self, **changes: Any) -> str:
        app = self.wf.create_draft("alice", make_form(**changes))
        self.wf.submit("alice", app)
        return app

    def under_review(self, **changes: Any) -> str:
        app = self.submitted(**changes)
        self.wf.assign_handler("hanna", app)
        return app

    def approved(self, **changes: Any) -> str:
        app = self.under_review(**changes)
        self.wf.approve("dora", app)
        return app


def populate(wf: Workflow) -> None:
    wf.bootstrap_admin("root", institution="BfArM", name="Platform admin")
    for user, (institution, roles) in PEOPLE.items():
        wf.register_user("root", user, institution=institution, name=user.title())
        for role in roles:
            wf.grant_role("root", user, role)
    wf.tag_dataset("root", DatasetTags(dataset_id="grz-wgs", title="Genomes (WGS/WES)",
                                       data_category="genomic", duo_permission="HMB",
                                       duo_modifiers=("IRB", "NPOA")))
    wf.tag_dataset("root", DatasetTags(dataset_id="kdk-clinical", title="Clinical data",
                                       data_category="clinical", duo_permission="GRU",
                                       duo_modifiers=("PUB",)))


def approve_application(config: GenomlabConfig) -> tuple[str, str]:
    """(project id, application id) of a freshly approved application in ``config``'s home:
    alice applied with tom on the team (:func:`populate`), hanna handled it, dora approved."""
    wf = Workflow(config)
    populate(wf)
    application_id = wf.create_draft("alice", make_form())
    project_id = wf.submit("alice", application_id)
    wf.assign_handler("hanna", application_id)
    wf.approve("dora", application_id)
    return project_id, application_id


@pytest.fixture
def world(config: GenomlabConfig) -> World:
    clock = Clock()
    wf = Workflow(config, clock=clock)
    populate(wf)
    return World(config, clock, wf)
