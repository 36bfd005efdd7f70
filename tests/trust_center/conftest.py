"""Fixtures for the trust centre: a fresh trust centre, the platform's approval key, cohorts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, inspect, text

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError
from genomlab.institution import Institution
from genomlab.messages import (
    APPROVAL_KIND,
    REVOCATION_KIND,
    ApprovalGrant,
    SignedDocument,
    compute_document_digest,
    sign_document,
)
from genomlab.platform.nodes import NodeRegistry
from genomlab.trust_center.identifiers import kvnr_check_digit
from genomlab.trust_center.service import TrustCenter

# The trust centre's tests run on this clock, not on today's date: approvals' validity windows,
# decision dates and withdrawal dates are computed from it.
TEST_START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LE_IK = "260840108"
OTHER_LE_IK = "261101015"
GRZ = "GRZK00001"
KDK = "KDKTUE005"
OTHER_GRZ = "GRZHD0003"


def make_kvnr(i: int) -> str:
    """A synthetic KVNR part with a valid check digit (never a real person's)."""
    head = f"{chr(ord('A') + i % 26)}{i:08d}"
    return f"{head}{kvnr_check_digit(head)}"


def get_stored_bytes(engine: Engine) -> bytes:
    """Everything a store holds: every row of every table, plus the SQLite file and WAL on disk."""
    with engine.connect() as conn:
        rows = [repr(tuple(row)) for table in inspect(conn).get_table_names()
                for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
    raw = "\n".join(rows).encode()
    if engine.dialect.name == "sqlite" and engine.url.database:
        db = Path(engine.url.database)
        raw += b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    return raw


@dataclass
class Person:
    kvnr: str
    arbeitsnummer: str
    genome: str = ""
    clinical: str = ""
    vns: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _trust_center_clock() -> Iterator[None]:
    with clock.use_clock(clock.ticking_from(TEST_START)):
        yield


def approve_nodes(config: GenomlabConfig, *nodes: str) -> None:
    """The platform approves ``nodes`` (the trust centre exchanges case numbers only for
    approved nodes)."""
    registry = NodeRegistry(config)
    for node in nodes:
        registry.ensure_approved(node, name=f"test node {node}", actor="bfarm-op")


def platform_people(config: GenomlabConfig, *users: str) -> dict[str, Path]:
    """Register ``users`` at the platform and give each a credentials file (as the platform's
    operator does with ``users issue-credential``): trust-centre officers and requesters act
    as the verified subject of their credentials, never by a typed name."""
    from genomlab.platform.applications.workflow import Workflow
    from genomlab.platform.person_credentials import (
        PersonCredentials,
        get_embedded_credentials_path,
        issue_person_credential,
        save_person_credentials,
    )

    workflow = Workflow(config)
    workflow.bootstrap_admin("tc-admin", institution="BfArM")
    paths = {}
    for user in users:
        workflow.register_user("tc-admin", user, institution="Vertrauensstelle")
        issued = issue_person_credential(config, user, actor="operator:test")
        paths[user] = get_embedded_credentials_path(config, user)
        save_person_credentials(paths[user], PersonCredentials(issued.client_id,
                                                               issued.client_secret, user))
    return paths


class PlatformWord:
    """The platform's word on approvals for tests that sign their own (:func:`sign_grant`): the
    approval signed last for an application is its current one, approved. An approval never
    declared here is unknown to the platform (the trust centre refuses it)."""

    def __init__(self) -> None:
        self.current: dict[str, dict[str, str]] = {}

    def declare_current(self, document: SignedDocument, status: str = "approved") -> None:
        application_id = str(document.body["application_id"])
        self.current[application_id] = {
            "application_id": application_id, "project_id": str(document.body["project_id"]),
            "status": status, "approval_digest": compute_document_digest(document)}

    def get_approval_status(self, application_id: str) -> dict[str, str]:
        if application_id not in self.current:
            raise NotFoundError(f"application {application_id} has no signed approval")
        return self.current[application_id]


@pytest.fixture
def platform_word() -> PlatformWord:
    return PlatformWord()


def select_everyone_presented(grant: ApprovalGrant, genome: np.ndarray,
                              clinical: np.ndarray) -> np.ndarray:
    """The cohort rule for tests whose persons are at no GRZ's or KDK's store (they enrol at
    the trust centre only, :func:`enrol`) and whose approvals have no criteria: every
    presented consented person. The real rule (:mod:`genomlab.cohort`) would select nobody
    there; ``test_linkage_cohort.py`` checks it with node stores."""
    return np.ones(len(genome), dtype=bool)


@pytest.fixture
def everyone_in_cohort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every :class:`TrustCenter` made without ``cohort`` (the CLI's, the tests' own) gets
    :func:`select_everyone_presented` as its home's cohort rule."""
    from genomlab.trust_center import service

    monkeypatch.setattr(service, "make_cohort_filter", lambda config: select_everyone_presented)


@pytest.fixture
def tc(config: GenomlabConfig, platform_word: PlatformWord) -> TrustCenter:
    approve_nodes(config, GRZ, KDK, OTHER_GRZ)
    return TrustCenter(config, approval_status=platform_word, cohort=select_everyone_presented)


@pytest.fixture
def platform_signing_key(config: GenomlabConfig) -> Ed25519PrivateKey:
    """The platform's real approval key (it also publishes platform/keys/approval.pub.pem)."""
    return Institution(config, "platform").keys().signing_key("approval")


@pytest.fixture
def sign_grant(platform_signing_key: Ed25519PrivateKey,
               platform_word: PlatformWord) -> Callable[..., SignedDocument]:
    """Sign an approval with the platform's key; the platform's word (:class:`PlatformWord`)
    then names it the application's current approval."""
    def sign(project_id: str = "GDE-2026-001", **overrides: Any) -> SignedDocument:
        today = clock.today()
        body = {
            "application_id": f"APP-{project_id}", "project_id": project_id,
            "title": "Germline variants in rare disease", "purposes": ["research"],
            "duo_codes": ["GRU"], "level": "individual",
            "data_categories": ["genomic", "clinical"], "clinical_fields": [],
            "criteria": {}, "team": ["alice"],
            "valid_from": (today - timedelta(days=30)).isoformat(),
            "valid_until": (today + timedelta(days=365)).isoformat(),
            "issued_at": f"{today.isoformat()}T00:00:00+00:00",
        }
        document = sign_document(APPROVAL_KIND, {**body, **overrides}, platform_signing_key)
        platform_word.declare_current(document)
        return document

    return sign


@pytest.fixture
def sign_revocation(platform_signing_key: Ed25519PrivateKey) -> Callable[..., SignedDocument]:
    def sign(application_id: str, project_id: str) -> SignedDocument:
        return sign_document(REVOCATION_KIND, {
            "application_id": application_id, "project_id": project_id,
            "revoked_at": "2026-01-01T00:00:00+00:00"}, platform_signing_key)

    return sign


def enrol(tc: TrustCenter, n: int, *, start: int = 0, research: bool = True,
          le_ik: str = LE_IK) -> list[Person]:
    """Persons that went the whole way: case numbers, both deliveries, consent recorded."""
    approve_nodes(tc.config, GRZ, KDK)
    people = []
    for i in range(start, start + n):
        person = Person(kvnr=make_kvnr(i), arbeitsnummer=f"AN-{i:05d}")
        vns = tc.request_case_numbers(kvnr=person.kvnr, arbeitsnummer=person.arbeitsnummer,
                                      le_ik=le_ik, le_name="Uniklinik Test", actor="le")
        person.vns = [vns.genomic, vns.clinical]
        person.genome = tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
        tc.confirm_delivery(vns.genomic, node_id=GRZ, pseudonym=person.genome)
        person.clinical = tc.exchange_case_number(vns.clinical, node_id=KDK, domain="clinical")
        tc.confirm_delivery(vns.clinical, node_id=KDK, pseudonym=person.clinical)
        tc.record_consent(kvnr=person.kvnr, le_ik=le_ik, scope="research",
                          decision="permit" if research else "deny", actor="le")
        people.append(person)
    return people
