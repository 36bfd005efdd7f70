"""The trust centre's current state: projection tables derived from its ledger events.

Every table below is rebuilt exactly by replaying the ledger (``projection_matches``). A case
number (VN) is never stored, only its keyed reference and a binding that only the VN opens
(:mod:`genomlab.trust_center.key_material`); deleting it is the event ``case_number.deleted``,
whose projection removes the live row (with SQLite's ``secure_delete``) and remembers the
reference as spent so any reuse is refused.

Event types (payload fields; the models are in :mod:`genomlab.trust_center.events`):

- ``identity.recorded`` (person_id, kvnr_hash, new_person, case_id, le_ik, le_name,
  arbeitsnummer_sealed, submission_type)
- ``case_number.issued`` (vn_ref, domain, sealed_binding) — the VN itself is never stored
- ``case_number.exchanged`` (vn_ref, node_id) · ``case_number.deleted`` (vn_ref, domain, node_id)
- ``case_number.refused`` (vn_ref, node_id, reason)
- ``dataset.delivered`` (person_id, domain, node_id)
- ``consent.recorded`` (person_id, scope, decision, decided_on, le_ik)
- ``consent.withdrawn`` (person_id, decided_on, le_ik, notified_projects)
- ``officer.appointed`` (officer, appointed_by)
- ``keys.rotated`` (version, fingerprint) · ``project.rekeyed`` (project_id, key_version)
- ``approval.revoked`` (application_id, project_id, revoked_at)
- ``linkage_map.issued`` (map_id, application_id, project_id, key_version, persons, n_rows, …)
- ``linkage_map.refused`` (application_id, project_id, reason)
- ``reid.requested`` (request_id, kind, project_id, project_pseudonym, person_id, reason,
  requester, finding_id) · ``reid.refused`` (request_id, step, reason, by) · ``reid.approved``
  (request_id, officer) · ``reid.released`` (request_id, le_ik, n_cases)
- ``case_contact.issued`` (request_id, contact_ref, le_ik, le_name, sealed_binding) ·
  ``case_contact.redeemed`` (contact_ref, le_ik, n_cases) · ``case_contact.refused``
  (contact_ref, le_ik, reason)
- ``correction.requested`` (correction_id, person_id, domain, node_id, reason) ·
  ``correction.refused`` (node_id, domain, reason) · ``correction.released`` (correction_id,
  le_ik, n_cases)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from genomlab.config import GenomlabConfig
from genomlab.events import LedgerSpec
from genomlab.institution import Institution
from genomlab.keys import KeyProvider
from genomlab.ledger import DispatchProjection, Event, EventHandler, Ledger
from genomlab.trust_center.events import TRUST_CENTER_EVENTS

metadata = MetaData()

persons = Table(
    "tc_persons", metadata,
    Column("person_id", String(32), primary_key=True),
    Column("kvnr_hash", String(64), nullable=False, unique=True),
    Column("registered_at", String(32), nullable=False),
)
cases = Table(
    "tc_cases", metadata,
    Column("case_id", String(32), primary_key=True),
    Column("person_id", String(32), nullable=False, index=True),
    Column("le_ik", String(9), nullable=False),
    Column("le_name", String(200), nullable=False),
    Column("arbeitsnummer_sealed", Text, nullable=False),
    Column("submission_type", String(20), nullable=False),
    Column("requested_at", String(32), nullable=False),
)
case_numbers = Table(
    "tc_case_numbers", metadata,
    Column("vn_ref", String(64), primary_key=True),
    Column("domain", String(10), nullable=False),
    Column("sealed_binding", Text, nullable=False),
    Column("state", String(10), nullable=False),  # issued | exchanged
    Column("node_id", String(20), nullable=True),
    Column("issued_at", String(32), nullable=False),
)
spent_case_numbers = Table(
    "tc_spent_case_numbers", metadata,
    Column("vn_ref", String(64), primary_key=True),
    Column("domain", String(10), nullable=False),
    Column("node_id", String(20), nullable=False),
    Column("deleted_at", String(32), nullable=False),
)
deliveries = Table(
    "tc_deliveries", metadata,
    Column("person_id", String(32), primary_key=True),
    Column("domain", String(10), primary_key=True),
    Column("node_id", String(20), primary_key=True),
    Column("delivered_at", String(32), nullable=False),
)
consents = Table(
    "tc_consents", metadata,
    Column("person_id", String(32), primary_key=True),
    Column("scope", String(30), primary_key=True),
    Column("decision", String(10), nullable=False),  # permit | deny | withdrawn
    Column("decided_on", String(10), nullable=False),
    Column("le_ik", String(9), nullable=False),
    Column("recorded_at", String(32), nullable=False),
)
officers = Table(
    "tc_officers", metadata,
    Column("officer", String(200), primary_key=True),
    Column("appointed_by", String(200), nullable=False),
    Column("appointed_at", String(32), nullable=False),
)
key_versions = Table(
    "tc_key_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
)
project_keys = Table(
    "tc_project_keys", metadata,
    Column("project_id", String(100), primary_key=True),
    Column("key_version", Integer, nullable=False),
)
revocations = Table(
    "tc_revocations", metadata,
    Column("application_id", String(100), primary_key=True),
    Column("project_id", String(100), nullable=False),
    Column("revoked_at", String(40), nullable=False),
)
linkage_maps = Table(
    "tc_linkage_maps", metadata,
    Column("map_id", String(32), primary_key=True),
    Column("application_id", String(100), nullable=False, index=True),
    Column("project_id", String(100), nullable=False, index=True),
    Column("key_version", Integer, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("n_excluded_no_consent", Integer, nullable=False),
    Column("n_unknown", Integer, nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("issued_by", String(200), nullable=False),
)
project_persons = Table(
    "tc_project_persons", metadata,
    Column("project_id", String(100), primary_key=True),
    Column("person_id", String(32), primary_key=True, index=True),
    Column("first_map_id", String(32), nullable=False),
)
reid_requests = Table(
    "tc_reid_requests", metadata,
    Column("request_id", String(32), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("project_id", String(100), nullable=False),
    Column("person_id", String(32), nullable=True),
    Column("reason", Text, nullable=False),
    Column("requester", String(200), nullable=False),
    Column("state", String(12), nullable=False),  # pending | refused | released
    Column("refusal", Text, nullable=True),
    Column("requested_at", String(32), nullable=False),
)
reid_approvals = Table(
    "tc_reid_approvals", metadata,
    Column("request_id", String(32), primary_key=True),
    Column("officer", String(200), primary_key=True),
    Column("approved_at", String(32), nullable=False),
)
case_contacts = Table(
    "tc_case_contacts", metadata,
    Column("contact_ref", String(64), primary_key=True),
    Column("request_id", String(32), nullable=False, index=True),
    Column("le_ik", String(9), nullable=False),
    Column("sealed_binding", Text, nullable=True),  # removed when redeemed
    Column("state", String(10), nullable=False),  # issued | redeemed
    Column("issued_at", String(32), nullable=False),
)
corrections = Table(
    "tc_corrections", metadata,
    Column("correction_id", String(32), primary_key=True),
    Column("person_id", String(32), nullable=False),
    Column("domain", String(10), nullable=False),
    Column("node_id", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(10), nullable=False),  # open | released
    Column("requested_at", String(32), nullable=False),
)
released = Table(
    "tc_reid_releases", metadata,
    Column("request_id", String(32), primary_key=True),
    Column("le_ik", String(9), nullable=False),
    Column("n_cases", Integer, nullable=False),
    Column("released_at", String(32), nullable=False),
)


Handler = EventHandler


def _identity_recorded(conn: Connection, ev: Event) -> None:
    p = ev.payload
    if p["new_person"]:
        conn.execute(insert(persons).values(person_id=p["person_id"], kvnr_hash=p["kvnr_hash"],
                                            registered_at=ev.recorded_at))
    conn.execute(insert(cases).values(
        case_id=p["case_id"], person_id=p["person_id"], le_ik=p["le_ik"], le_name=p["le_name"],
        arbeitsnummer_sealed=p["arbeitsnummer_sealed"], submission_type=p["submission_type"],
        requested_at=ev.recorded_at))


def _case_number_issued(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(case_numbers).values(
        vn_ref=p["vn_ref"], domain=p["domain"], sealed_binding=p["sealed_binding"],
        state="issued", node_id=None, issued_at=ev.recorded_at))


def _case_number_exchanged(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(update(case_numbers).where(case_numbers.c.vn_ref == p["vn_ref"])
                 .values(state="exchanged", node_id=p["node_id"]))


def _case_number_deleted(conn: Connection, ev: Event) -> None:
    p = ev.payload
    if conn.dialect.name == "sqlite":  # overwrite the freed bytes instead of leaving them
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
    conn.execute(delete(case_numbers).where(case_numbers.c.vn_ref == p["vn_ref"]))
    conn.execute(insert(spent_case_numbers).values(
        vn_ref=p["vn_ref"], domain=p["domain"], node_id=p["node_id"],
        deleted_at=ev.recorded_at))


def _dataset_delivered(conn: Connection, ev: Event) -> None:
    p = ev.payload
    key = (deliveries.c.person_id == p["person_id"]) & (deliveries.c.domain == p["domain"]) & (
        deliveries.c.node_id == p["node_id"])
    if conn.execute(select(deliveries.c.person_id).where(key)).first() is None:
        conn.execute(insert(deliveries).values(person_id=p["person_id"], domain=p["domain"],
                                               node_id=p["node_id"],
                                               delivered_at=ev.recorded_at))


def _set_consent(conn: Connection, ev: Event, scope: str, decision: str) -> None:
    p = ev.payload
    key = (consents.c.person_id == p["person_id"]) & (consents.c.scope == scope)
    values = {"decision": decision, "decided_on": p["decided_on"], "le_ik": p["le_ik"],
              "recorded_at": ev.recorded_at}
    if conn.execute(select(consents.c.person_id).where(key)).first() is None:
        conn.execute(insert(consents).values(person_id=p["person_id"], scope=scope, **values))
    else:
        conn.execute(update(consents).where(key).values(**values))


def _consent_recorded(conn: Connection, ev: Event) -> None:
    _set_consent(conn, ev, ev.payload["scope"], ev.payload["decision"])


def _consent_withdrawn(conn: Connection, ev: Event) -> None:
    _set_consent(conn, ev, "research", "withdrawn")


def _officer_appointed(conn: Connection, ev: Event) -> None:
    conn.execute(insert(officers).values(officer=ev.payload["officer"],
                                         appointed_by=ev.payload["appointed_by"],
                                         appointed_at=ev.recorded_at))


def _keys_rotated(conn: Connection, ev: Event) -> None:
    conn.execute(insert(key_versions).values(version=ev.payload["version"],
                                             fingerprint=ev.payload["fingerprint"],
                                             created_at=ev.recorded_at))


def _set_project_key(conn: Connection, project_id: str, version: int) -> None:
    key = project_keys.c.project_id == project_id
    if conn.execute(select(project_keys.c.key_version).where(key)).first() is None:
        conn.execute(insert(project_keys).values(project_id=project_id, key_version=version))
    else:
        conn.execute(update(project_keys).where(key).values(key_version=version))


def _project_rekeyed(conn: Connection, ev: Event) -> None:
    _set_project_key(conn, ev.payload["project_id"], ev.payload["key_version"])


def _approval_revoked(conn: Connection, ev: Event) -> None:
    p = ev.payload
    if conn.execute(select(revocations.c.application_id)
                    .where(revocations.c.application_id == p["application_id"])).first() is None:
        conn.execute(insert(revocations).values(application_id=p["application_id"],
                                                project_id=p["project_id"],
                                                revoked_at=p["revoked_at"]))


def _linkage_map_issued(conn: Connection, ev: Event) -> None:
    p = ev.payload
    project = p["project_id"]
    conn.execute(insert(linkage_maps).values(
        map_id=p["map_id"], application_id=p["application_id"], project_id=project,
        key_version=p["key_version"], n_rows=p["n_rows"],
        n_excluded_no_consent=p["n_excluded_no_consent"], n_unknown=p["n_unknown"],
        issued_at=ev.recorded_at, issued_by=ev.actor))
    if conn.execute(select(project_keys.c.key_version)
                    .where(project_keys.c.project_id == project)).first() is None:
        _set_project_key(conn, project, p["key_version"])
    known = set(conn.execute(select(project_persons.c.person_id)
                             .where(project_persons.c.project_id == project)).scalars())
    fresh = [{"project_id": project, "person_id": pid, "first_map_id": p["map_id"]}
             for pid in p["persons"] if pid not in known]
    if fresh:
        conn.execute(insert(project_persons), fresh)


def _reid_requested(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(reid_requests).values(
        request_id=p["request_id"], kind=p["kind"], project_id=p["project_id"],
        person_id=p["person_id"], reason=p["reason"], requester=p["requester"],
        state="pending", refusal=None, requested_at=ev.recorded_at))


def _reid_refused(conn: Connection, ev: Event) -> None:
    p = ev.payload
    if p["step"] == "request":  # a refused request is closed; refused approvals/releases are not
        conn.execute(update(reid_requests).where(reid_requests.c.request_id == p["request_id"])
                     .values(state="refused", refusal=p["reason"]))


def _reid_approved(conn: Connection, ev: Event) -> None:
    conn.execute(insert(reid_approvals).values(request_id=ev.payload["request_id"],
                                               officer=ev.payload["officer"],
                                               approved_at=ev.recorded_at))


def _reid_released(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(update(reid_requests).where(reid_requests.c.request_id == p["request_id"])
                 .values(state="released"))
    conn.execute(insert(released).values(request_id=p["request_id"], le_ik=p["le_ik"],
                                         n_cases=p["n_cases"], released_at=ev.recorded_at))


def _case_contact_issued(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(case_contacts).values(
        contact_ref=p["contact_ref"], request_id=p["request_id"], le_ik=p["le_ik"],
        sealed_binding=p["sealed_binding"], state="issued", issued_at=ev.recorded_at))


def _case_contact_redeemed(conn: Connection, ev: Event) -> None:
    conn.execute(update(case_contacts)
                 .where(case_contacts.c.contact_ref == ev.payload["contact_ref"])
                 .values(state="redeemed", sealed_binding=None))


def _correction_requested(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(corrections).values(
        correction_id=p["correction_id"], person_id=p["person_id"], domain=p["domain"],
        node_id=p["node_id"], reason=p["reason"], state="open", requested_at=ev.recorded_at))


def _correction_released(conn: Connection, ev: Event) -> None:
    conn.execute(update(corrections)
                 .where(corrections.c.correction_id == ev.payload["correction_id"])
                 .values(state="released"))


HANDLERS: dict[str, Handler] = {
    "identity.recorded": _identity_recorded,
    "case_number.issued": _case_number_issued,
    "case_number.exchanged": _case_number_exchanged,
    "case_number.deleted": _case_number_deleted,
    "dataset.delivered": _dataset_delivered,
    "consent.recorded": _consent_recorded,
    "consent.withdrawn": _consent_withdrawn,
    "officer.appointed": _officer_appointed,
    "keys.rotated": _keys_rotated,
    "project.rekeyed": _project_rekeyed,
    "approval.revoked": _approval_revoked,
    "linkage_map.issued": _linkage_map_issued,
    "reid.requested": _reid_requested,
    "reid.refused": _reid_refused,
    "reid.approved": _reid_approved,
    "reid.released": _reid_released,
    "case_contact.issued": _case_contact_issued,
    "case_contact.redeemed": _case_contact_redeemed,
    "correction.requested": _correction_requested,
    "correction.released": _correction_released,
}
"""Events without a handler (``case_number.refused``, ``linkage_map.refused``,
``case_contact.refused``, ``correction.refused``) are audit-only."""


class TrustCenterProjection(DispatchProjection):
    """The :class:`genomlab.ledger.Projection` of the trust centre's ledger."""

    metadata = metadata
    handlers = HANDLERS


TRUST_CENTER_LEDGER = LedgerSpec.of(TRUST_CENTER_EVENTS, [TrustCenterProjection()])
"""The trust centre's events and projections."""


def open_trust_center_ledger(config: GenomlabConfig, *, keys: KeyProvider | None = None,
                             **kwargs: Any) -> Ledger:
    """The trust centre's ledger with all its projections, signed by ``keys`` (its 0600 key
    folder by default; a KMS/HSM provider can replace it)."""
    institution = Institution(config, "trust_center")
    institution.engine()
    return Ledger.open(institution.store_url, keys or institution.keys(), institution.name,
                       TRUST_CENTER_LEDGER, **kwargs)
