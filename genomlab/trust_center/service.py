"""The trust centre's operations: identities, case numbers, consent, keys, linkage maps.

:class:`TrustCenter` is what the hospitals (LE), the data nodes (through
:class:`genomlab.messages.PseudonymService`) and the data service call. Every state change is one
or more events in the trust centre's ledger, appended together with their projection rows
(:mod:`genomlab.trust_center.store`). A refusal that matters for the audit (a reused case
number, a forged or revoked approval, a refused re-identification step) is recorded as an event
first and then raised.

Examples
--------
>>> import tempfile, pathlib
>>> from genomlab.config import load_config
>>> from genomlab.platform.nodes import NodeRegistry
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> NodeRegistry(config).ensure_approved("GRZK00001", name="GRZ Köln", actor="bfarm")
>>> tc = TrustCenter(config)
>>> vns = tc.request_case_numbers(kvnr="A123456780", arbeitsnummer="AN-1", le_ik="260840108",
...                               le_name="Uniklinik", actor="le:260840108")
>>> gp = tc.exchange_case_number(vns.genomic, node_id="GRZK00001", domain="genomic")
>>> gp.startswith("GDP1-")
True
>>> tc.confirm_delivery(vns.genomic, node_id="GRZK00001", pseudonym=gp)
>>> tc.ledger.verify().ok
True
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, select

from genomlab import clock
from genomlab.cohort import CohortFilter, make_cohort_filter
from genomlab.config import GenomlabConfig
from genomlab.consent_policy import get_rule, required_scopes
from genomlab.crashpoints import crashpoint
from genomlab.errors import (
    ConflictError,
    GenomlabError,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)
from genomlab.institution import Institution
from genomlab.keys import KeyProvider
from genomlab.ledger import LedgerTransaction
from genomlab.messages import (
    ApprovalGrant,
    DatasetDomain,
    SignatureError,
    SignedDocument,
    sign_document,
    verify_document,
)
from genomlab.node_approval import NodeStatusSource, check_node_approved, get_platform_node_status
from genomlab.trust_center import store
from genomlab.trust_center.approvals import (
    ApprovalStatusSource,
    check_approval,
    check_current_approval,
    check_revocation,
    get_platform_approval_status,
    load_platform_approval_key,
)
from genomlab.trust_center.identifiers import check_arbeitsnummer, check_ik, normalise_kvnr
from genomlab.trust_center.key_material import (
    DATASET_PREFIX,
    TrustCenterSecrets,
    open_binding,
    project_prefix,
    seal_binding,
)
from genomlab.trust_center.pseudonyms import (
    compute_pseudonyms,
    filter_ids_in,
    get_unique_ids,
    ids_from_hex,
    ids_to_hex,
    resolve_pseudonyms,
)

if TYPE_CHECKING:
    import polars as pl

ConsentScope = Literal["research", "mvSequencing", "reIdentification", "caseIdentification"]
CONSENT_SCOPES: tuple[str, ...] = get_args(ConsentScope)
SubmissionType = Literal["initial", "followup", "addition", "correction"]
SUBMISSION_TYPES: tuple[str, ...] = get_args(SubmissionType)
_LE_CASE_NUMBER = re.compile(r"^[0-9a-fA-F]{64}(:[\x21-\x7e]{1,64})?$")
NODE_PATTERN: dict[DatasetDomain, re.Pattern[str]] = {
    "genomic": re.compile(r"^GRZ[A-Z0-9]{3}[0-9]{3}$"),
    "clinical": re.compile(r"^KDK[A-Z0-9]{3}[0-9]{3}$"),
}
_PROJECT_PSEUDONYM = re.compile(r"^PP([0-9]{1,4})-")
Refusal = tuple[str, type[GenomlabError]]


def normalise_case_number(case_number: str) -> str:
    """A case number with its 64 hex digits in lower case (hex is case-insensitive).

    Examples
    --------
    >>> normalise_case_number("AB" * 32 + ":S00003")[-9:]
    'ab:S00003'
    """
    return case_number[:64].lower() + case_number[64:]


def _utcnow() -> datetime:
    return clock.now()


@dataclass(frozen=True)
class CaseNumbers:
    """The two Vorgangsnummern for one submission: VNg for the GRZ, VNk for the KDK."""

    genomic: str
    clinical: str


@dataclass(frozen=True)
class WithdrawalNotice:
    """Projects that received a person before the withdrawal, with the pseudonym they know."""

    withdrawn_on: date
    projects: tuple[tuple[str, str], ...]  # (project_id, project_pseudonym)


@dataclass(frozen=True)
class LinkageMap:
    """Rows of (project pseudonym, genome-dataset pseudonym, clinical-dataset pseudonym).

    The three arrays are aligned numpy arrays of ASCII byte strings (``S``: a quarter of the
    memory of ``U`` and no transcoding into Arrow); an empty value means the person has no
    dataset of that kind in the approval's scope. :meth:`to_polars` and :meth:`rows` give text.
    Only the data service receives a linkage map; a workspace gets the project pseudonyms alone.
    """

    map_id: str
    application_id: str
    project_id: str
    key_version: int
    project_pseudonyms: np.ndarray
    genome_pseudonyms: np.ndarray
    clinical_pseudonyms: np.ndarray
    n_requested: int
    n_excluded_no_consent: int
    n_unknown: int
    digest: str
    receipt: SignedDocument
    n_outside_cohort: int = 0
    """Consented persons the caller asked for whom the approval's criteria do not select."""

    def __len__(self) -> int:
        return len(self.project_pseudonyms)

    def rows(self) -> Iterator[tuple[str, str | None, str | None]]:
        """Each row as (project, genome or None, clinical or None)."""
        columns = (self.project_pseudonyms, self.genome_pseudonyms, self.clinical_pseudonyms)
        for pp, gp, kp in zip(*(column.astype(str).tolist() for column in columns), strict=True):
            yield pp, gp or None, kp or None

    def to_polars(self) -> pl.DataFrame:
        """The map as a polars DataFrame of strings (nulls where a dataset is absent)."""
        import polars as pl

        frame = pl.DataFrame({"project_pseudonym": self.project_pseudonyms,
                              "genome_pseudonym": self.genome_pseudonyms,
                              "clinical_pseudonym": self.clinical_pseudonyms})
        return frame.select(pl.col(c).cast(pl.String) for c in frame.columns).with_columns(
            pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
            for c in ("genome_pseudonym", "clinical_pseudonym"))


    def to_json_dict(self) -> dict[str, Any]:
        """The map as JSON travels (HTTP answer of the trust-centre service)."""
        texts = {name: getattr(self, name).astype(str).tolist() for name in
                 ("project_pseudonyms", "genome_pseudonyms", "clinical_pseudonyms")}
        return {"map_id": self.map_id, "application_id": self.application_id,
                "project_id": self.project_id, "key_version": self.key_version, **texts,
                "n_requested": self.n_requested,
                "n_excluded_no_consent": self.n_excluded_no_consent,
                "n_unknown": self.n_unknown, "n_outside_cohort": self.n_outside_cohort,
                "digest": self.digest, "receipt": self.receipt.model_dump(mode="json")}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> LinkageMap:
        """The map of :meth:`to_json_dict`'s JSON (check it with :func:`verify_linkage_map`)."""
        columns = {name: np.asarray(data[name], dtype=bytes) for name in
                   ("project_pseudonyms", "genome_pseudonyms", "clinical_pseudonyms")}
        return cls(map_id=str(data["map_id"]), application_id=str(data["application_id"]),
                   project_id=str(data["project_id"]), key_version=int(data["key_version"]),
                   **columns, n_requested=int(data["n_requested"]),
                   n_excluded_no_consent=int(data["n_excluded_no_consent"]),
                   n_unknown=int(data["n_unknown"]),
                   n_outside_cohort=int(data["n_outside_cohort"]), digest=str(data["digest"]),
                   receipt=SignedDocument.model_validate(data["receipt"]))


LINKAGE_MAP_KIND = "linkage-map"
"""Kind of the trust centre's signed receipt over a linkage map (key ``linkage-map``)."""


def verify_linkage_map(linkage: LinkageMap, trust_center_key: Ed25519PublicKey) -> None:
    """Check that ``linkage`` is what the trust centre signed; raise if a row was altered.

    The data service holds only the trust centre's public key
    (``trust_center/keys/linkage-map.pub.pem``).
    """
    body = verify_document(linkage.receipt, trust_center_key, kind=LINKAGE_MAP_KIND)
    digest = compute_map_digest(linkage.project_pseudonyms, linkage.genome_pseudonyms,
                                linkage.clinical_pseudonyms)
    expected = {"map_id": linkage.map_id, "application_id": linkage.application_id,
                "project_id": linkage.project_id, "n_rows": len(linkage), "digest": digest}
    if any(body.get(key) != value for key, value in expected.items()):
        raise SignatureError(f"linkage map {linkage.map_id}: rows do not match the signed receipt")


def compute_map_digest(project: np.ndarray, genome: np.ndarray, clinical: np.ndarray) -> str:
    """sha256 over the map's rows (``project<TAB>genome<TAB>clinical`` lines), for the ledger."""
    lines = b"\n".join(b"\t".join(row) for row in zip(
        *(np.asarray(column, dtype=bytes).tolist() for column in (project, genome, clinical)),
        strict=True))
    return hashlib.sha256(lines).hexdigest()


class TrustCenter:
    """The Vertrauensstelle: one instance per home, with its own store, ledger and keys.

    Parameters
    ----------
    config:
        Where the home and the trust centre's store are.
    keys:
        The key provider; the trust centre's 0600 key folder by default (a KMS/HSM can replace it).
    platform_key:
        The platform's public approval key; if not given, read from
        ``platform/keys/approval.pub.pem`` at *every* use and checked against the fingerprint
        anchored in the trust centre's ledger (:mod:`genomlab.trusted_keys`), so a file swapped
        before or after this object was made is refused, never cached.
    clock:
        Current time (tests pass a fixed clock).
    node_status:
        The platform's node-status look-up that :meth:`exchange_case_number` asks (default:
        this home's platform store; the service checks its callers itself).
    approval_status:
        The platform's approval-status look-up :meth:`issue_linkage_map` asks before every map
        (default: this home's platform store; the service passes its platform client).
    cohort:
        Which persons an approval's criteria select (:mod:`genomlab.cohort`); default: the
        home's rule, :func:`genomlab.cohort.make_cohort_filter` (node services where they run,
        else the nodes' consented stores), the same the trust-centre service applies.
    """

    def __init__(self, config: GenomlabConfig, *, keys: KeyProvider | None = None,
                 platform_key: Ed25519PublicKey | None = None,
                 clock: Callable[[], datetime] = _utcnow,
                 node_status: NodeStatusSource | None = None,
                 approval_status: ApprovalStatusSource | None = None,
                 cohort: CohortFilter | None = None) -> None:
        provider = keys if keys is not None else Institution(config, "trust_center").keys()
        self.config = config
        self.clock = clock
        self.secrets = TrustCenterSecrets(provider)
        self.ledger = store.open_trust_center_ledger(config, keys=provider, clock=clock)
        self.projection = self.ledger.projections[0]
        self._platform_key = platform_key
        self.node_status = node_status or get_platform_node_status(config)
        self.approval_status = approval_status or get_platform_approval_status(config)
        self.cohort = cohort or make_cohort_filter(config)

    # --- helpers ---------------------------------------------------------------------------

    @property
    def platform_key(self) -> Ed25519PublicKey:
        if self._platform_key is not None:
            return self._platform_key
        return load_platform_approval_key(self.config)  # at every use: a swap is seen at once

    def today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def _person_by_kvnr(self, conn: Connection, kvnr: str) -> str | None:
        return conn.execute(select(store.persons.c.person_id).where(
            store.persons.c.kvnr_hash == self.secrets.kvnr_hash(normalise_kvnr(kvnr)))).scalar()

    def _person_of_le(self, conn: Connection, kvnr: str, le_ik: str) -> str:
        """The person with this KVNR part, if ``le_ik`` has submitted a case for them."""
        person_id = self._person_by_kvnr(conn, kvnr)
        if person_id is None:
            raise NotFoundError("no person with this KVNR part is known to the trust centre")
        has_case = conn.execute(select(store.cases.c.case_id).where(
            (store.cases.c.person_id == person_id) & (store.cases.c.le_ik == check_ik(le_ik))
        )).first()
        if has_case is None:
            raise PermissionDenied(f"LE {le_ik} has no case for this person")
        return person_id

    def dataset_pseudonym(self, person_id: str, domain: DatasetDomain) -> str:
        """The genome- or clinical-dataset pseudonym of an internal person id."""
        return compute_pseudonyms(self.secrets.dataset_key(domain), ids_from_hex([person_id]),
                                  prefix=DATASET_PREFIX[domain])[0].decode()

    # --- identities and case numbers --------------------------------------------------------

    def request_case_numbers(self, *, kvnr: str, arbeitsnummer: str, le_ik: str, le_name: str,
                             actor: str, submission_type: SubmissionType = "initial"
                             ) -> CaseNumbers:
        """Register (or recognise) the person and issue a fresh VNg and VNk (GenDV § 7(3)).

        The KVNR part is kept only as a keyed hash and the Arbeitsnummer only encrypted; the same
        KVNR part always maps to the same internal person, so follow-up and correction
        submissions keep the person's dataset pseudonyms. The VNs are random 64-hex values that
        the trust centre does not store (only a keyed reference and a sealed binding).

        Examples
        --------
        >>> import tempfile
        >>> from genomlab.config import load_config
        >>> tc = TrustCenter(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
        >>> vns = tc.request_case_numbers(kvnr="A123456780", arbeitsnummer="AN-7",
        ...                               le_ik="260840108", le_name="UK", actor="le")
        >>> len(vns.genomic), vns.genomic != vns.clinical
        (64, True)
        """
        numbers = CaseNumbers(genomic=secrets.token_hex(32), clinical=secrets.token_hex(32))
        self._record_case(kvnr=kvnr, arbeitsnummer=arbeitsnummer, le_ik=le_ik, le_name=le_name,
                          actor=actor, submission_type=submission_type,
                          numbers={"genomic": numbers.genomic, "clinical": numbers.clinical})
        return numbers

    def register_case_numbers(self, *, kvnr: str, arbeitsnummer: str, le_ik: str, le_name: str,
                              actor: str, genomic: str | None = None, clinical: str | None = None,
                              submission_type: SubmissionType = "initial") -> None:
        """Register case numbers the LE generated itself (today's TAN practice, genomde.md § 8.3).

        The current GRZ/KDK schemas and the DNPM ETL let the LE draw the 64-hex tanG/tanC. The
        trust centre then learns them with the identity instead of issuing them; everything
        after (exchange, confirmation, deletion, refusal of reuse) is the same. A reference may
        carry a ``:suffix`` after its 64 hex digits (e.g. a relative's donor pseudonym under the
        index patient's tanG). A number that was ever registered or used is refused.

        Examples
        --------
        >>> import tempfile
        >>> from genomlab.config import load_config
        >>> from genomlab.platform.nodes import NodeRegistry
        >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
        >>> NodeRegistry(config).ensure_approved("GRZK00001", name="GRZ", actor="bfarm")
        >>> tc = TrustCenter(config)
        >>> tc.register_case_numbers(kvnr="A123456780", arbeitsnummer="AN-8", le_ik="260840108",
        ...                          le_name="UK", actor="le", genomic="ab" * 32)
        >>> tc.exchange_case_number("ab" * 32, node_id="GRZK00001", domain="genomic")[:5]
        'GDP1-'
        """
        numbers = {domain: normalise_case_number(number) for domain, number in
                   (("genomic", genomic), ("clinical", clinical)) if number is not None}
        if not numbers:
            raise GenomlabError("case-number registration: give a genomic or clinical number")
        for domain, number in numbers.items():
            if not _LE_CASE_NUMBER.match(number):
                raise ValidationFailed(f"case-number registration: field {domain}: expected 64 "
                                       "hex digits (a random 256-bit TAN), optionally ':suffix'")
        self._record_case(kvnr=kvnr, arbeitsnummer=arbeitsnummer, le_ik=le_ik, le_name=le_name,
                          actor=actor, submission_type=submission_type, numbers=numbers)

    def _record_case(self, *, kvnr: str, arbeitsnummer: str, le_ik: str, le_name: str,
                     actor: str, submission_type: str, numbers: dict[str, str]) -> None:
        """Record the identity of one case and its case numbers, in one transaction."""
        kvnr = normalise_kvnr(kvnr)
        check_arbeitsnummer(arbeitsnummer)
        check_ik(le_ik)
        if not 0 < len(le_name.strip()) <= 200:
            raise GenomlabError("identity request: field le_name: expected 1–200 characters")
        if submission_type not in SUBMISSION_TYPES:
            raise GenomlabError(f"field submission_type: expected one of {SUBMISSION_TYPES}")
        case_id = secrets.token_hex(16)
        with self.ledger.transaction() as tx:
            for domain, number in numbers.items():
                if self._live_case_number(tx.conn, self.secrets.vn_ref(number))[0] is not None \
                        or self._is_spent(tx.conn, self.secrets.vn_ref(number)):
                    raise ConflictError(f"{domain} case number was registered or used before")
            person_id = self._person_by_kvnr(tx.conn, kvnr)
            new_person = person_id is None
            person_id = person_id or secrets.token_hex(16)
            tx.append("identity.recorded", {
                "person_id": person_id, "kvnr_hash": self.secrets.kvnr_hash(kvnr),
                "new_person": new_person, "case_id": case_id, "le_ik": le_ik,
                "le_name": le_name.strip(),
                "arbeitsnummer_sealed": self.secrets.seal_arbeitsnummer(arbeitsnummer, case_id),
                "submission_type": submission_type,
            }, actor=actor, stream=f"person:{person_id}")
            for domain, number in numbers.items():
                tx.append("case_number.issued", {
                    "vn_ref": self.secrets.vn_ref(number), "domain": domain,
                    "sealed_binding": seal_binding(number, {"person_id": person_id,
                                                            "case_id": case_id}),
                }, actor=actor)

    def _refuse_case_number(self, vn_ref: str, node_id: str, refusal: Refusal | None,
                            actor: str) -> GenomlabError:
        """Record a refused exchange or confirmation; return the error to raise."""
        reason, error = refusal or ("refused", GenomlabError)
        self.ledger.append("case_number.refused",
                           {"vn_ref": vn_ref, "node_id": node_id, "reason": reason},
                           actor=actor)
        return error(f"case number refused for {node_id}: {reason}")

    def _live_case_number(self, conn: Connection, vn_ref: str) -> tuple[Any, Refusal | None]:
        """The live row of a case number, or why there is none (used and deleted, or unknown)."""
        row = conn.execute(select(store.case_numbers).where(
            store.case_numbers.c.vn_ref == vn_ref)).first()
        if row is not None:
            return row, None
        if self._is_spent(conn, vn_ref):
            return None, ("already used: its delivery was confirmed and it was deleted",
                          ConflictError)
        return None, ("unknown case number", NotFoundError)

    @staticmethod
    def _is_spent(conn: Connection, vn_ref: str) -> bool:
        return conn.execute(select(store.spent_case_numbers.c.vn_ref).where(
            store.spent_case_numbers.c.vn_ref == vn_ref)).first() is not None

    def exchange_case_number(self, case_number: str, *, node_id: str,
                             domain: DatasetDomain) -> str:
        """The dataset pseudonym for a VN presented by a data node (GenDV § 7(4)).

        A VNg is exchanged only by a GRZ for a genome-dataset pseudonym, a VNk only by a KDK for
        a clinical-dataset pseudonym. Repeating the call from the same node returns the same
        pseudonym until delivery is confirmed; another node, or any call after confirmation, is
        refused (and recorded). The ledger's actor is ``node:<node_id>``; the service calls
        :meth:`exchange_case_number_as` with the verified client id (after its own check of the
        caller's node at the platform).

        A node the platform does not approve now is refused first
        (:class:`~genomlab.node_approval.NodeNotApproved`): nothing is recorded and the case
        number stays unused.
        """
        check_node_approved(self.node_status, node_id, door="trust centre case-number exchange")
        return self.exchange_case_number_as(f"node:{node_id}", case_number, node_id=node_id,
                                            domain=domain)

    def exchange_case_number_as(self, actor: str, case_number: str, *, node_id: str,
                                domain: DatasetDomain) -> str:
        """:meth:`exchange_case_number` recorded with ``actor`` (the verified caller)."""
        if domain not in NODE_PATTERN:
            raise GenomlabError(f"field domain: expected genomic or clinical, got {domain!r}")
        if not NODE_PATTERN[domain].match(node_id):
            raise PermissionDenied(f"node {node_id!r} may not exchange {domain} case numbers")
        case_number = normalise_case_number(case_number)
        vn_ref = self.secrets.vn_ref(case_number)
        with self.ledger.transaction() as tx:
            row, refusal = self._live_case_number(tx.conn, vn_ref)
            if row is not None and row.domain != domain:
                refusal = (f"a {row.domain} case number cannot give a {domain} pseudonym",
                           PermissionDenied)
            elif row is not None and row.state == "exchanged" and row.node_id != node_id:
                refusal = ("already exchanged by another node", ConflictError)
            elif row is not None:
                person_id = open_binding(case_number, row.sealed_binding)["person_id"]
                if row.state == "issued":
                    tx.append("case_number.exchanged", {"vn_ref": vn_ref, "node_id": node_id},
                              actor=actor)
                    crashpoint("case_number.appended")  # in the transaction, before the commit
        if refusal is None and row is not None:
            crashpoint("case_number.committed")  # exchanged, pseudonym not yet answered
            return self.dataset_pseudonym(person_id, domain)
        raise self._refuse_case_number(vn_ref, node_id, refusal, actor)

    def confirm_delivery(self, case_number: str, *, node_id: str, pseudonym: str) -> None:
        """The node stored its data under ``pseudonym``: check it and delete the VN (as events).

        This is the trust centre's own check that the pseudonym reached the node correctly
        (GenDV § 7(5)). Afterwards the VN is unknown to the store and any reuse is refused.
        Actor as in :meth:`exchange_case_number` (the service: :meth:`confirm_delivery_as`).
        """
        self.confirm_delivery_as(f"node:{node_id}", case_number, node_id=node_id,
                                 pseudonym=pseudonym)

    def confirm_delivery_as(self, actor: str, case_number: str, *, node_id: str,
                            pseudonym: str) -> None:
        """:meth:`confirm_delivery` recorded with ``actor`` (the verified caller)."""
        case_number = normalise_case_number(case_number)
        vn_ref = self.secrets.vn_ref(case_number)
        with self.ledger.transaction() as tx:
            row, refusal = self._live_case_number(tx.conn, vn_ref)
            if row is not None and (row.state != "exchanged" or row.node_id != node_id):
                refusal = ("delivery confirmed by a node that did not exchange it", ConflictError)
            elif row is not None:
                person_id = open_binding(case_number, row.sealed_binding)["person_id"]
                if pseudonym != self.dataset_pseudonym(person_id, row.domain):
                    refusal = ("the confirmed pseudonym is not the one issued", ConflictError)
                else:
                    tx.append("case_number.deleted", {"vn_ref": vn_ref, "domain": row.domain,
                                                      "node_id": node_id}, actor=actor)
                    tx.append("dataset.delivered", {"person_id": person_id,
                                                    "domain": row.domain, "node_id": node_id},
                              actor=actor, stream=f"person:{person_id}")
                    return
        raise self._refuse_case_number(vn_ref, node_id, refusal, actor)

    # --- consent --------------------------------------------------------------------------

    def record_consent(self, *, kvnr: str, le_ik: str, scope: ConsentScope,
                       decision: Literal["permit", "deny"], actor: str,
                       decided_on: date | None = None) -> None:
        """Record a person's research consent or an mvConsent scope, as sent by their LE.

        ``scope`` is ``research`` (MII Broad Consent) or one of the mvConsent domains
        ``mvSequencing``, ``reIdentification``, ``caseIdentification`` (genomde.md § 7).
        """
        if scope not in CONSENT_SCOPES:
            raise GenomlabError(f"field scope: expected one of {', '.join(CONSENT_SCOPES)}")
        if decision not in ("permit", "deny"):
            raise GenomlabError(f"field decision: expected permit or deny, got {decision!r}")
        with self.ledger.transaction() as tx:
            person_id = self._person_of_le(tx.conn, kvnr, le_ik)
            tx.append("consent.recorded", {
                "person_id": person_id, "scope": scope, "decision": decision,
                "decided_on": (decided_on or self.today()).isoformat(), "le_ik": le_ik,
            }, actor=actor, stream=f"person:{person_id}")

    def withdraw_research_consent(self, *, kvnr: str, le_ik: str, actor: str,
                                  withdrawn_on: date | None = None) -> WithdrawalNotice:
        """Record a research-consent withdrawal; list the projects to notify.

        The person is left out of every later linkage map. Each project that received the
        person earlier is returned with the project pseudonym it knows, so it can be told to
        delete the person's data.
        """
        withdrawn_on = withdrawn_on or self.today()
        with self.ledger.transaction() as tx:
            person_id = self._person_of_le(tx.conn, kvnr, le_ik)
            received = tx.conn.execute(
                select(store.project_persons.c.project_id, store.linkage_maps.c.key_version)
                .join(store.linkage_maps,
                      store.linkage_maps.c.map_id == store.project_persons.c.first_map_id)
                .where(store.project_persons.c.person_id == person_id)
                .order_by(store.project_persons.c.project_id)).all()
            tx.append("consent.withdrawn", {
                "person_id": person_id, "decided_on": withdrawn_on.isoformat(), "le_ik": le_ik,
                "notified_projects": [row.project_id for row in received],
            }, actor=actor, stream=f"person:{person_id}")
        ids = ids_from_hex([person_id])
        projects = tuple(
            (row.project_id, compute_pseudonyms(
                self.secrets.project_key(row.project_id, row.key_version), ids,
                prefix=project_prefix(row.key_version))[0].decode())
            for row in received)
        return WithdrawalNotice(withdrawn_on=withdrawn_on, projects=projects)

    # --- officers and keys ----------------------------------------------------------------

    def appoint_officer(self, officer: str, *, actor: str) -> None:
        """Make ``officer`` a trust-centre officer who may approve re-identification."""
        if not 0 < len(officer.strip()) <= 200:
            raise GenomlabError("field officer: expected 1–200 characters")
        with self.ledger.transaction() as tx:
            known = tx.conn.execute(select(store.officers.c.officer).where(
                store.officers.c.officer == officer)).first()
            if known is not None:
                raise ConflictError(f"{officer} is already a trust-centre officer")
            tx.append("officer.appointed", {"officer": officer, "appointed_by": actor},
                      actor=actor)

    @staticmethod
    def _current_key_version(conn: Connection) -> int:
        return int(conn.execute(select(func.max(store.key_versions.c.version))).scalar() or 1)

    def _project_key_version(self, conn: Connection, project_id: str) -> int:
        pinned = conn.execute(select(store.project_keys.c.key_version).where(
            store.project_keys.c.project_id == project_id)).scalar()
        return int(pinned) if pinned is not None else self._current_key_version(conn)

    def rotate_keys(self, *, actor: str) -> int:
        """Start a new project-pseudonym key version (a new master secret); returns it.

        Projects already served keep their version until :meth:`rekey_project`; new projects
        use the new one. Old pseudonyms stay resolvable by their ``PP<version>-`` prefix.
        """
        with self.ledger.transaction() as tx:
            version = self._current_key_version(tx.conn) + 1
            tx.append("keys.rotated", {
                "version": version,
                "fingerprint": self.secrets.project_master_fingerprint(version),
            }, actor=actor)
        return version

    def rekey_project(self, project_id: str, *, actor: str) -> int:
        """Move a project to the current key version: later maps carry new pseudonyms."""
        with self.ledger.transaction() as tx:
            version = self._current_key_version(tx.conn)
            tx.append("project.rekeyed", {"project_id": project_id, "key_version": version},
                      actor=actor, stream=f"project:{project_id}")
        return version

    def resolve_project_pseudonym(self, conn: Connection, project_id: str,
                                  pseudonym: str) -> str:
        """The internal person id behind a pseudonym the project received; raises otherwise."""
        match = _PROJECT_PSEUDONYM.match(pseudonym)
        if match is None:
            raise NotFoundError(f"{pseudonym[:48]!r} is not a project pseudonym")
        version = int(match.group(1))
        person = ids_to_hex(resolve_pseudonyms(self.secrets.project_key(project_id, version),
                                               [pseudonym], prefix=project_prefix(version)))[0]
        received = conn.execute(select(store.project_persons.c.person_id).where(
            (store.project_persons.c.project_id == project_id)
            & (store.project_persons.c.person_id == person))).first()
        if received is None:
            raise NotFoundError(f"project {project_id} never received pseudonym {pseudonym}")
        return person

    # --- approvals and linkage maps -------------------------------------------------------

    def receive_revocation(self, document: SignedDocument, *, actor: str) -> str:
        """Record the platform's signed revocation of an approval; returns the application id."""
        body = check_revocation(document, self.platform_key)
        with self.ledger.transaction() as tx:
            tx.append("approval.revoked", {key: body[key] for key in
                                           ("application_id", "project_id", "revoked_at")},
                      actor=actor, stream=f"application:{body['application_id']}")
        return str(body["application_id"])

    def refuse_linkage_map(self, document: SignedDocument, reason: str, *, actor: str) -> None:
        """Record a refused linkage-map request (the caller raises); see :meth:`issue_linkage_map`.
        """
        self._refuse_linkage(document, reason, actor)

    def _refuse_linkage(self, document: SignedDocument, reason: str, actor: str) -> None:
        self.ledger.append("linkage_map.refused", {
            "application_id": str(document.body.get("application_id", "")),
            "project_id": str(document.body.get("project_id", "")), "reason": reason,
        }, actor=actor)

    def issue_linkage_map(self, approval: SignedDocument, *, actor: str,
                          genome_pseudonyms: Sequence[str] | np.ndarray = (),
                          clinical_pseudonyms: Sequence[str] | np.ndarray = ()) -> LinkageMap:
        """A linkage map for the requested persons whose consent allows the grant's purposes.

        Research needs research consent; quality assurance, evaluation and care need none
        beyond the model-project participation (:mod:`genomlab.consent_policy`, § 64e (6), (9)).

        The approval must verify with the platform's key, be in force today, not be revoked,
        and cover the requested data categories. Persons are requested by the dataset
        pseudonyms the caller holds; each row gives the person's project pseudonym (keyed PRF
        with the project's key version, no table) and the dataset pseudonyms in scope. Only the
        persons the approval's criteria select (``self.cohort``, :mod:`genomlab.cohort`) are
        kept, on every path (the others are counted in ``n_outside_cohort``).

        First the platform is asked (``approval_status``) whether ``approval`` is its current
        approval of the application and still approved: otherwise the request is refused
        (``linkage_map.refused``) before anything else, on every path (service or in-process).

        Examples
        --------
        See ``tests/trust_center/test_linkage.py``; the data service calls
        ``tc.issue_linkage_map(signed_approval, actor="data_service", genome_pseudonyms=[...])``.
        """
        reason = check_current_approval(approval, self.approval_status)
        if reason:
            self._refuse_linkage(approval, reason, actor)
            raise PermissionDenied(reason)
        try:
            grant = check_approval(approval, self.platform_key, today=self.today())
            requested: dict[DatasetDomain, Sequence[str] | np.ndarray] = {
                "genomic": genome_pseudonyms, "clinical": clinical_pseudonyms}
            for domain, names in requested.items():
                if len(names) and domain not in grant.data_categories:
                    raise PermissionDenied(f"approval {grant.application_id}: {domain} data are "
                                           "not in its scope")
            ids = {domain: resolve_pseudonyms(self.secrets.dataset_key(domain), names,
                                              prefix=DATASET_PREFIX[domain])
                   for domain, names in requested.items()}
        except GenomlabError as exc:
            self._refuse_linkage(approval, str(exc), actor)
            raise
        with self.ledger.transaction() as tx:
            revoked = tx.conn.execute(select(store.revocations.c.revoked_at).where(
                store.revocations.c.application_id == grant.application_id)).scalar()
            if revoked is None:
                linkage = self._build_linkage_map(tx, grant, ids, actor)
        if revoked is not None:
            self._refuse_linkage(approval, f"approval revoked at {revoked}", actor)
            raise PermissionDenied(f"approval {grant.application_id}: revoked at {revoked}")
        return linkage

    def _load_ids(self, conn: Connection, query: Any) -> np.ndarray:
        return ids_from_hex(list(conn.execute(query).scalars()))

    def _build_linkage_map(self, tx: LedgerTransaction, grant: ApprovalGrant,
                           ids: dict[DatasetDomain, np.ndarray], actor: str) -> LinkageMap:
        conn = tx.conn
        application_id, project_id = grant.application_id, grant.project_id
        categories = grant.data_categories
        delivered = {domain: self._load_ids(conn, select(store.deliveries.c.person_id)
                                            .where(store.deliveries.c.domain == domain)
                                            .distinct())
                     for domain in ("genomic", "clinical")}
        valid = {domain: filter_ids_in(ids[domain], delivered[domain]) for domain in ids}
        n_unknown = int(sum((~mask).sum() for mask in valid.values()))
        persons = get_unique_ids(np.concatenate([ids[d][valid[d]] for d in ids]))
        consented = np.ones(len(persons), dtype=bool)  # what the grant's purposes need
        needed = required_scopes(grant.purposes)  # research: research consent; QA: none
        for scope in needed:
            consented &= filter_ids_in(persons, self._load_ids(conn, select(
                store.consents.c.person_id).where((store.consents.c.scope == scope)
                                                  & (store.consents.c.decision == "permit"))))
        rows = persons[consented]
        columns = {}
        for domain in ("genomic", "clinical"):
            names = compute_pseudonyms(self.secrets.dataset_key(domain), rows,
                                       prefix=DATASET_PREFIX[domain])
            present = filter_ids_in(rows, delivered[domain]) & (domain in categories)
            columns[domain] = np.where(present, names, b"")
        selected = np.asarray(self.cohort(grant, columns["genomic"], columns["clinical"]),
                              dtype=bool)
        n_outside_cohort = int((~selected).sum())
        rows = rows[selected]
        columns = {domain: column[selected] for domain, column in columns.items()}
        version = self._project_key_version(conn, project_id)
        project = compute_pseudonyms(self.secrets.project_key(project_id, version), rows,
                                     prefix=project_prefix(version))
        digest = compute_map_digest(project, columns["genomic"], columns["clinical"])
        map_id = secrets.token_hex(16)
        tx.append("linkage_map.issued", {
            "map_id": map_id, "application_id": application_id, "project_id": project_id,
            "key_version": version, "persons": ids_to_hex(rows), "n_rows": len(rows),
            "n_requested": len(persons), "n_excluded_no_consent": int((~consented).sum()),
            "n_unknown": n_unknown, "n_outside_cohort": n_outside_cohort, "digest": digest,
            "consent_rule": "; ".join(get_rule(p).source for p in grant.purposes),
        }, actor=actor, stream=f"application:{application_id}")
        receipt = sign_document(LINKAGE_MAP_KIND, {
            "map_id": map_id, "application_id": application_id, "project_id": project_id,
            "key_version": version, "n_rows": len(rows), "digest": digest,
        }, self.secrets.provider.signing_key("linkage-map"))
        return LinkageMap(map_id=map_id, application_id=application_id, project_id=project_id,
                          key_version=version, project_pseudonyms=project,
                          genome_pseudonyms=columns["genomic"],
                          clinical_pseudonyms=columns["clinical"], n_requested=len(persons),
                          n_excluded_no_consent=int((~consented).sum()), n_unknown=n_unknown,
                          digest=digest, receipt=receipt, n_outside_cohort=n_outside_cohort)
