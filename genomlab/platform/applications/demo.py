"""Demo step: platform staff, a research team, dataset DUO tags and one approved application.

``genomlab demo`` (the lead's) calls :func:`run_applications_demo` after the nodes hold data, so
that the data service has a signed approval to release against.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.messages import CohortCriteria
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.models import (
    TERMS_OF_USE_VERSION,
    ApplicationForm,
    DatasetTags,
    Role,
)
from genomlab.platform.applications.store import read_platform
from genomlab.platform.applications.workflow import Workflow

DEMO_STAFF = {  # user: (institution, roles)
    "bfarm-admin": ("BfArM", (Role.ADMIN,)),
    "hanna": ("BfArM", (Role.HANDLER, Role.OUTPUT_CHECKER)),
    "dora": ("BfArM", (Role.DECIDER,)),
    "otto": ("BfArM", (Role.OUTPUT_CHECKER,)),
    "kurt": ("Charité – Universitätsmedizin Berlin", (Role.COMMITTEE,)),
}
DEMO_TEAM = {"alice": "Universitätsklinikum Tübingen",
             "tom": "Universitätsklinikum Hamburg-Eppendorf"}


@dataclass(frozen=True)
class DemoApplication:
    """What the demo created: the application, its project and its team."""

    application_id: str
    project_id: str
    team: tuple[str, ...]


DEMO_DOCUMENTS = (
    ("ethics_vote", "ethics-vote.txt",
     "SYNTHETIC DEMO DOCUMENT\nEthics committee vote EK Tübingen 001/2026BO1: no objections.\n"),
    ("data_protection_concept", "data-protection-concept.txt",
     "SYNTHETIC DEMO DOCUMENT\nProcessing only in the secure processing environment; outputs "
     "leave through the airlock after two output checkers.\n"),
    ("signed_terms", "terms-of-use-signed.txt",
     "SYNTHETIC DEMO DOCUMENT\nTerms of use accepted and signed by the applicant.\n"),
)
"""The case file of a demo application: synthetic stand-ins for the real documents."""


def attach_demo_documents(wf: Workflow, applicant: str, application_id: str) -> None:
    """Attach :data:`DEMO_DOCUMENTS` to an application as its applicant, in-process."""
    attach_case_file(ActingAs(wf, applicant), application_id)


def attach_case_file(applicant: Any, application_id: str) -> None:
    """Attach :data:`DEMO_DOCUMENTS` as ``applicant`` (:class:`ActingAs` or the applicant's
    platform client)."""
    for kind, name, text in DEMO_DOCUMENTS:
        applicant.attach_document(application_id, kind, name, text.encode())


class ActingAs:
    """``workflow``'s commands with ``actor`` bound: ``ActingAs(wf, "hanna").assign_handler(app)``
    is ``wf.assign_handler("hanna", app)``. The in-process twin of a person's platform client
    (:class:`genomlab.clients.platform.PlatformPersonClient`, same method names), for a home
    without a running platform service; there the actor is a name, so only the demo's own
    in-process path (``--no-hail``) and tests use it."""

    def __init__(self, workflow: Workflow, actor: str) -> None:
        self.workflow = workflow
        self.actor = actor

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return partial(getattr(self.workflow, name), self.actor)


PersonFor = Callable[[str], Any]
"""A demo person's way to the platform by user id: :class:`ActingAs` in-process, or their
platform client with their own credentials (``genomlab.demo``)."""


def get_demo_application(config: GenomlabConfig) -> DemoApplication | None:
    """The demo application approved earlier in this home, or ``None``."""
    with read_platform(config) as conn:
        done = conn.execute(select(t.applications.c.application_id, t.applications.c.project_id)
                            .where(t.applications.c.status == "approved",
                                   t.applications.c.applicant == "alice")).first()
    if done is None:
        return None
    return DemoApplication(done.application_id, done.project_id, tuple(DEMO_TEAM))


def setup_demo_people(wf: Workflow, *, admin: str = "bfarm-admin") -> None:
    """The platform's records the demo needs, set up by its operator and admin in-process
    (before any service runs): the admin, :data:`DEMO_STAFF` with their roles,
    :data:`DEMO_TEAM` and :data:`DEMO_DATASETS`' tags. Idempotent: users already registered
    and datasets already tagged so are left as they are."""
    config = wf.config
    with read_platform(config) as conn:
        users = set(conn.execute(select(t.users.c.user_id)).scalars())
        has_admin = conn.execute(select(t.roles.c.user_id)
                                 .where(t.roles.c.role == Role.ADMIN.value)).first() is not None
    if not has_admin:
        wf.bootstrap_admin(admin, institution="BfArM", name="BfArM platform admin")
        users.add(admin)
    for user, (institution, roles) in DEMO_STAFF.items():
        if user in users:
            continue
        wf.register_user(admin, user, institution=institution, name=user.title())
        for role in roles:
            wf.grant_role(admin, user, role)
    for user, institution in DEMO_TEAM.items():
        if user not in users:
            wf.register_user(admin, user, institution=institution, name=user.title())
    with read_platform(config) as conn:
        tagged = {row.dataset_id: DatasetTags.model_validate(json.loads(row.tags))
                  for row in conn.execute(select(t.datasets.c.dataset_id, t.datasets.c.tags))}
    for tags in DEMO_DATASETS:
        if tagged.get(tags.dataset_id) != tags:
            wf.tag_dataset(admin, tags)


DEMO_DATASETS = (
    DatasetTags(dataset_id="grz-genomes", title="Genomes and exomes (GRZ)",
                data_category="genomic", duo_permission="HMB",
                duo_modifiers=("IRB", "NPOA", "PUB")),
    DatasetTags(dataset_id="kdk-clinical", title="Clinical data (KDK)", data_category="clinical",
                duo_permission="HMB", duo_modifiers=("IRB", "PUB")),
)
"""The datasets the demo offers, with their DUO tags."""

DEMO_FORM = ApplicationForm(
    title="Genotype-phenotype association in rare diseases",
    lay_summary="Which genetic variants go with which symptoms in rare diseases?",
    scientific_abstract="Sample and variant QC, then association of HPO phenotypes with "
                        "germline variants in rare-disease genomes.",
    purposes=("research",), duo_permission="HMB", duo_modifiers=("PUB",),
    data_categories=("genomic", "clinical"),
    clinical_fields=("sex", "diagnosis", "hpo_terms"),
    criteria=CohortCriteria(disease_types=("rare",)), duration_months=12,
    level="individual",
    individual_justification=(
        "Sample QC, relatedness and regression on genotypes need individual records; "
        "aggregates cannot answer the question. Processing stays in the secure processing "
        "environment; only checked aggregates leave through the airlock."),
    ethics_vote_reference="EK Tübingen 001/2026BO1", accepted_terms=TERMS_OF_USE_VERSION,
    team=("tom",))
"""The demo's application form (alice applies, tom on her team)."""


def file_demo_application(person: PersonFor) -> DemoApplication:
    """alice files :data:`DEMO_FORM` with its case file and submits; hanna takes it into
    review, asks the committee and hands it to the deciders; kurt votes; dora approves. Each
    step as ``person(user)``: with a platform client the actor is that person's verified
    identity at the service."""
    alice, hanna = person("alice"), person("hanna")
    application_id = str(alice.create_draft(DEMO_FORM))
    attach_case_file(alice, application_id)
    project_id = str(alice.submit(application_id))
    hanna.assign_handler(application_id)
    hanna.request_committee_review(application_id, note="Standard review.")
    hanna.request_decision(application_id, "approve",
                           "Complete; ethics vote and data-protection concept attached.")
    person("kurt").record_vote(application_id, "approve",
                               "Individual records justified under § 64e (11a).")
    person("dora").approve(application_id, note="Committee in favour.")
    return DemoApplication(application_id, project_id, tuple(DEMO_TEAM))


def run_applications_demo(config: GenomlabConfig, *,
                          admin: str = "bfarm-admin") -> DemoApplication:
    """Register staff and a team, tag the datasets, file, review and approve one application,
    all in this process (:class:`ActingAs`; ``genomlab demo`` with services running drives
    :func:`file_demo_application` through the platform service instead).

    Idempotent per home: a second call returns the application the first one approved.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> demo = run_applications_demo(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    >>> demo.project_id.startswith("GDE-"), demo.team
    (True, ('alice', 'tom'))
    """
    done = get_demo_application(config)
    if done is not None:
        return done
    wf = Workflow(config)
    with wf.batch():
        setup_demo_people(wf, admin=admin)
        return file_demo_application(lambda user: ActingAs(wf, user))
