"""Checking the platform's signed approvals before any linkage.

The trust centre holds only the platform's *public* approval key (``platform/keys/approval.pub.pem``
under the home by default). An approval counts if its Ed25519 signature verifies, it is an
:class:`~genomlab.messages.ApprovalGrant`, today lies within ``valid_from``–``valid_until``, and no
signed revocation of its application has been received.

Examples
--------
>>> import datetime
>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> from genomlab.messages import sign_document
>>> key = Ed25519PrivateKey.generate()
>>> body = dict(application_id="A-1", project_id="P-1", title="t", purposes=["research"],
...             duo_codes=["GRU"], level="individual", data_categories=["genomic", "clinical"],
...             clinical_fields=[], criteria={}, team=["alice"], valid_from="2026-01-01",
...             valid_until="2026-12-31", issued_at="2026-01-01T00:00:00+00:00")
>>> grant = check_approval(sign_document("approval", body, key), key.public_key(),
...                        today=datetime.date(2026, 6, 1))
>>> grant.project_id
'P-1'
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, NotFoundError, PermissionDenied
from genomlab.institution import Institution
from genomlab.messages import (
    APPROVAL_KIND,
    REVOCATION_KIND,
    ApprovalGrant,
    SignedDocument,
    compute_document_digest,
    verify_document,
)
from genomlab.trusted_keys import load_trusted_key


def platform_approval_key_path(config: GenomlabConfig) -> Path:
    """Where the platform publishes the public key it signs approvals with."""
    return config.institution_dir("platform") / "keys" / "approval.pub.pem"


def load_platform_approval_key(config: GenomlabConfig) -> Ed25519PublicKey:
    """The platform's public approval key; raises naming the file if it is missing, and
    :class:`~genomlab.trusted_keys.TrustedKeyMismatch` (naming the file, the expected and the
    found fingerprint) if it is not the key anchored in the trust centre's ledger."""
    path = platform_approval_key_path(config)
    if not path.exists():
        raise GenomlabError(f"{path}: the platform's public approval key is missing")
    return load_trusted_key(path, key="approval", holder=Institution(config, "trust_center"))


class ApprovalStatusSource(Protocol):
    """The platform's word on an approval now (its service client, or its store in-process)."""

    def get_approval_status(self, application_id: str) -> dict[str, Any]:
        """``{application_id, project_id, status, approval_digest}``; NotFoundError if none."""
        ...


class _PlatformApprovals:
    """This home's platform store as an :class:`ApprovalStatusSource` (read at every call)."""

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config

    def get_approval_status(self, application_id: str) -> dict[str, Any]:
        from genomlab.platform.applications.entitlements import get_approval_status

        return dict(get_approval_status(self.config, application_id))


def get_platform_approval_status(config: GenomlabConfig) -> ApprovalStatusSource:
    """The in-process source: this home's platform store, as the platform service reads it."""
    return _PlatformApprovals(config)


def check_current_approval(document: SignedDocument,
                           approvals: ApprovalStatusSource) -> str:
    """Why ``document`` is not the platform's current, approved approval of its application
    (empty: it is). Asks ``approvals`` now; a ServiceUnavailable of the source propagates."""
    application_id = str(document.body.get("application_id", ""))
    try:
        status = approvals.get_approval_status(application_id)
    except NotFoundError as exc:
        return f"approval {application_id}: not an approval of the platform ({exc})"
    if status["status"] != "approved":
        return f"approval {application_id}: {status['status']} at the platform"
    if status["approval_digest"] != compute_document_digest(document):
        return (f"approval {application_id}: not the platform's current approval "
                "(forged, altered or superseded)")
    return ""


def check_approval(document: SignedDocument, platform_key: Ed25519PublicKey, *,
                   today: date) -> ApprovalGrant:
    """The grant in ``document`` if it is validly signed and in force on ``today``; else raise.

    Raises :class:`genomlab.messages.SignatureError` for a forged or altered document and
    :class:`genomlab.errors.PermissionDenied` for one that is not (or no longer) in force.
    Revocations are checked by the caller against the revocations it has received.
    """
    body = verify_document(document, platform_key, kind=APPROVAL_KIND)
    try:
        grant = ApprovalGrant.model_validate(body)
    except ValidationError as exc:
        raise GenomlabError(f"approval: body is not an ApprovalGrant ({exc.errors()[0]['loc']})"
                            ) from exc
    if today < grant.valid_from:
        raise PermissionDenied(f"approval {grant.application_id}: valid only from "
                               f"{grant.valid_from}")
    if today > grant.valid_until:
        raise PermissionDenied(f"approval {grant.application_id}: expired on {grant.valid_until}")
    return grant


def check_revocation(document: SignedDocument, platform_key: Ed25519PublicKey) -> dict[str, Any]:
    """The body ``{application_id, project_id, revoked_at}`` of a signed revocation, or raise."""
    body = verify_document(document, platform_key, kind=REVOCATION_KIND)
    missing = {"application_id", "project_id", "revoked_at"} - set(body)
    if missing:
        raise GenomlabError(f"approval revocation: missing field {sorted(missing)[0]}")
    return body
