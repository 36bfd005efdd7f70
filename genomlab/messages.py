"""Documents that cross institution boundaries, and their Ed25519 signatures.

Institutions never import each other's internals; they exchange these models. A signed document
is a JSON object ``{"kind", "body", "key_id", "signature"}`` where the signature covers the
canonical JSON of ``[kind, body]``. Anyone with the issuer's public key verifies it offline;
changing one byte of the body, the kind or the signature makes verification fail.

Examples
--------
>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> key = Ed25519PrivateKey.generate()
>>> doc = sign_document("example", {"a": 1}, key)
>>> verify_document(doc, key.public_key(), kind="example")
{'a': 1}
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

from genomlab.errors import GenomlabError
from genomlab.keys import key_id
from genomlab.ledger import canonical_json


class SignatureError(GenomlabError):
    """A signed document failed verification (forged, altered, wrong kind or unknown key)."""


class SignedDocument(BaseModel):
    """A signed JSON document as it travels between institutions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    body: dict[str, Any]
    key_id: str
    signature: str


def _message(kind: str, body: dict[str, Any]) -> bytes:
    return canonical_json([kind, body]).encode()


def sign_document(kind: str, body: dict[str, Any], key: Ed25519PrivateKey) -> SignedDocument:
    """Sign ``body`` as a document of ``kind`` with the issuer's key."""
    body = _roundtrip(body)
    signature = key.sign(_message(kind, body))
    return SignedDocument(
        kind=kind,
        body=body,
        key_id=key_id(key.public_key()),
        signature=base64.b64encode(signature).decode(),
    )


def verify_document(
    document: SignedDocument, public_key: Ed25519PublicKey, *, kind: str
) -> dict[str, Any]:
    """Return the body of a document of ``kind`` signed by ``public_key``, or raise."""
    if document.kind != kind:
        raise SignatureError(f"expected a {kind!r} document, got {document.kind!r}")
    if document.key_id != key_id(public_key):
        raise SignatureError(f"{kind}: signed by unknown key {document.key_id}")
    try:
        public_key.verify(base64.b64decode(document.signature, validate=True),
                          _message(kind, document.body))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(f"{kind}: signature does not match the content") from exc
    return document.body


def compute_document_digest(document: SignedDocument) -> str:
    """sha256 hex over the document's signed message and signature: which exact document it is.

    Two issuances of the same body differ in nothing but may be told apart by the platform's
    record of the current one; the digest lets a service compare without the whole document.
    """
    import hashlib

    return hashlib.sha256(_message(document.kind, document.body)
                          + document.signature.encode()).hexdigest()


def _roundtrip(body: dict[str, Any]) -> dict[str, Any]:
    """The body as JSON would give it back (so signer and verifier hash the same value)."""
    import json

    return json.loads(canonical_json(body))


# --- the approval a platform issues for a data-use application --------------------------------

Purpose = Literal["care", "quality_assurance", "evaluation", "research"]
"""The four purposes of § 64e (9) SGB V: improving care, quality assurance, evaluation of the
model project, scientific research."""

DataLevel = Literal["aggregated", "individual"]
"""§ 64e (11): aggregated by default; (11a): pseudonymised individual records if justified."""


class CohortCriteria(BaseModel):
    """Which persons an application asks for. Empty lists mean "no restriction"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    disease_types: tuple[Literal["oncological", "rare", "hereditary"], ...] = ()
    icd10gm_prefixes: tuple[str, ...] = ()
    hpo_terms: tuple[str, ...] = ()
    library_types: tuple[str, ...] = ()
    sexes: tuple[Literal["male", "female", "other", "unknown"], ...] = ()


class ApprovalGrant(BaseModel):
    """What the platform approved: the body of a signed ``approval`` document.

    The trust centre issues a linkage map and the data service releases data only for a grant
    whose signature verifies with the platform's key, that names the project, and whose
    ``valid_until`` has not passed; a revocation is a later signed ``approval-revocation``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    application_id: str
    project_id: str
    title: str
    purposes: tuple[Purpose, ...]
    duo_codes: tuple[str, ...]
    level: DataLevel
    data_categories: tuple[Literal["clinical", "genomic"], ...]
    clinical_fields: tuple[str, ...]
    criteria: CohortCriteria
    team: tuple[str, ...]
    valid_from: date
    valid_until: date
    issued_at: str


APPROVAL_KIND = "approval"
REVOCATION_KIND = "approval-revocation"
FINDING_KIND = "reid-finding"
"""A finding relevant to a patient, reported to BfArM and signed by the platform (key
``approval``): the only way a re-identification for patient benefit starts (GenDV § 7)."""


# --- what the trust centre offers the data nodes ----------------------------------------------

DatasetDomain = Literal["genomic", "clinical"]


class PseudonymService(Protocol):
    """The trust centre as a genome data centre or clinical node sees it (GenDV § 7).

    A node presents a case number (VNg for a GRZ, VNk for a KDK) and gets its dataset pseudonym;
    after storing the data it confirms delivery, upon which the trust centre deletes the VN and
    refuses any reuse. Nodes depend on this protocol, never on ``genomlab.trust_center``; the CLI
    and the demo pass in the trust centre's implementation.
    """

    def exchange_case_number(self, case_number: str, *, node_id: str,
                             domain: DatasetDomain) -> str:
        """The dataset pseudonym for ``case_number``; idempotent until delivery is confirmed."""
        ...

    def confirm_delivery(self, case_number: str, *, node_id: str, pseudonym: str) -> None:
        """The node stored the data under ``pseudonym``; the VN is deleted (as an event)."""
        ...
