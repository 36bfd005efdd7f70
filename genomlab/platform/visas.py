"""GA4GH Passport visas from BfArM's approvals: ``ControlledAccessGrants``, signed by the platform.

An approval (:meth:`genomlab.platform.applications.workflow.Workflow.approve`, a signed
``approval`` document) authorises its team to use the project's data until ``valid_until``.
The platform states that as GA4GH Passport v1.2 visas, one per authorised user and dataset:
a JWT (PyJWT, EdDSA with the platform key ``visa``; header ``typ: JWT``, ``kid``, and ``jku``
when the platform service runs) with claims

- ``iss`` (:data:`VISA_ISSUER`), ``sub`` (the user id), ``iat`` (when the approval was signed),
  ``exp`` (the end of the approval's ``valid_until`` day, UTC), ``jti``;
- ``ga4gh_visa_v1``: ``type: ControlledAccessGrants``, ``asserted`` (= ``iat``), ``value`` (the
  dataset, :func:`dataset_urn`), ``source`` (:data:`VISA_SOURCE`), ``by: dac``;
- ``genomlab_approval``: ``application_id``, ``approval_digest`` (the signed approval the visa
  stands on, :func:`genomlab.messages.compute_document_digest`);
- ``genomlab_dataset`` (tagged datasets only): ``data_category`` (``clinical`` or ``genomic``),
  signed with the rest, so a service can tell which of its data a visa opens (the data
  service's feasibility index and Beacon answer a query from its clinical or its genomic side).

The datasets of an approval are the project's release (``urn:genomlab:project:<project id>``:
what the data service and htsget serve) and each platform-tagged dataset of a granted data
category that a decider did not reject (``urn:genomlab:dataset:<id>``).

A visa is a function of the approval: the same approval gives the same visas (Ed25519 signs
deterministically, and ``jti`` is a digest of approval, user and dataset), so the platform
keeps no table of them and its ledger stays the one record. :func:`verify_visa` is the one
check every service makes, at every request: signature (the platform's published JWKS,
``GET /.well-known/jwks.json``), type, issuer, expiry against :func:`genomlab.clock.now`,
the dataset asked for, and then the platform's records now (``look_up(application_id)``, the
answer of ``GET /api/approvals/{id}/status``): the approval must still be ``approved`` and still
the one the visa names. Revocation, closing and expiry of the approval therefore end its visas
at once, before their ``exp``.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.applications.demo import run_applications_demo
>>> from genomlab.platform.applications.entitlements import get_approval_status
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> demo = run_applications_demo(config)
>>> visas = issue_visas(config, "alice")
>>> dataset = project_dataset(demo.project_id)
>>> token = next(v for v in visas if decode_unverified(v)["ga4gh_visa_v1"]["value"] == dataset)
>>> verified = verify_visa(token, get_visa_public_key(config), dataset=dataset,
...                        look_up=lambda a: get_approval_status(config, a))
>>> verified.user_id, verified.project_id == demo.project_id
('alice', True)
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from genomlab import clock
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, PermissionDenied
from genomlab.institution import Institution
from genomlab.messages import compute_document_digest
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.entitlements import (
    get_active_entitlements,
    get_approval_status,
    get_signed_approval,
)
from genomlab.platform.applications.store import read_platform

VISA_KEY = "visa"
"""Platform key that signs visas (public: ``platform/keys/visa.pub.pem`` and the JWKS)."""
TOKEN_KEY = "oauth"
"""The access-token key, published in the same JWKS (``genomlab.platform.access_tokens``)."""
VISA_ISSUER = "urn:genomlab:platform"
VISA_SOURCE = "https://www.bfarm.de/genomDE"
"""``ga4gh_visa_v1.source``: the organisation that asserts the grant (BfArM's data access
committee, whose decision the approval is)."""
VISA_TYPE = "ControlledAccessGrants"
VISA_BY = "dac"
VISA_TYP = "JWT"
JWKS_PATH = "/.well-known/jwks.json"
REQUIRED_CLAIMS = ["iss", "sub", "iat", "exp", "jti", "ga4gh_visa_v1", "genomlab_approval"]
APPROVED = "approved"


class InvalidVisa(PermissionDenied):
    """The visa is malformed, forged, expired, for another dataset or no longer backed (401)."""


class WrongDataset(InvalidVisa):
    """A visa that holds, but for another dataset than the one asked (403)."""


@dataclass(frozen=True)
class VerifiedVisa:
    """A visa that holds now: who may use which dataset under which approval, until when."""

    user_id: str
    dataset: str
    application_id: str
    project_id: str
    expires: datetime
    jti: str


ApprovalLookUp = Callable[[str], Mapping[str, Any]]
"""application id → the platform's answer of ``GET /api/approvals/{id}/status``
(:func:`genomlab.platform.applications.entitlements.get_approval_status` in-process,
:meth:`genomlab.clients.platform.PlatformStatusClient.get_approval_status` from another
service); raises :class:`~genomlab.errors.NotFoundError` for an unknown approval."""


def project_dataset(project_id: str) -> str:
    """The dataset URN of a project's release (what the data service and htsget serve)."""
    return f"urn:genomlab:project:{project_id}"


def dataset_urn(dataset_id: str) -> str:
    """The dataset URN of a platform-tagged dataset."""
    return f"urn:genomlab:dataset:{dataset_id}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as an RFC 8037 OKP JWK, ``kid`` its RFC 7638 thumbprint."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    thumbprint = _b64(
        hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    )
    return {**members, "kid": thumbprint, "use": "sig", "alg": "EdDSA"}


def get_visa_public_key(config: GenomlabConfig) -> Ed25519PublicKey:
    """The platform's public visa key (created with the key pair on first use)."""
    return Institution(config, "platform").keys().signing_key(VISA_KEY).public_key()


def get_jwks(config: GenomlabConfig) -> dict[str, list[dict[str, str]]]:
    """The platform's signing keys as a JWKS (RFC 7517): the visa key and the token key."""
    keys = Institution(config, "platform").keys()
    return {"keys": [_jwk(keys.signing_key(name).public_key()) for name in (VISA_KEY, TOKEN_KEY)]}


def _epoch(day: date, *, end_of_day: bool = False) -> int:
    start = datetime.combine(day + timedelta(days=1) if end_of_day else day, time(), UTC)
    return int(start.timestamp())


def _granted_datasets(
    conn: Any, application_id: str, categories: list[str]
) -> list[tuple[str, str]]:
    """(dataset id, data category) of the tagged datasets of the granted data categories whose
    latest decision is no reject."""
    decisions: dict[str, str] = {}
    for detail in conn.execute(
        select(t.history.c.detail)
        .where(t.history.c.application_id == application_id, t.history.c.type == "dataset_decided")
        .order_by(t.history.c.seq)
    ).scalars():
        record = json.loads(detail)
        decisions[record["dataset_id"]] = record["decision"]
    tags = [json.loads(text) for text in conn.execute(select(t.datasets.c.tags)).scalars()]
    return sorted(
        (tag["dataset_id"], tag["data_category"])
        for tag in tags
        if tag["data_category"] in categories and decisions.get(tag["dataset_id"]) != "reject"
    )


def _jti(digest: str, user_id: str, dataset: str) -> str:
    return hashlib.sha256(f"{digest}\n{user_id}\n{dataset}".encode()).hexdigest()[:32]


def issue_visas(
    config: GenomlabConfig, user_id: str, *, at: datetime | None = None, jku: str | None = None
) -> list[str]:
    """The visas of ``user_id``: one per dataset of each approval the user holds at ``at``.

    Only approvals with an active entitlement of the user count (approved, not ended, within
    ``valid_from``..``valid_until``); ``jku`` is the JWKS URL put in the header.
    """
    private_key = Institution(config, "platform").keys().signing_key(VISA_KEY)
    kid = _jwk(private_key.public_key())["kid"]
    headers = {"typ": VISA_TYP, "kid": kid, **({"jku": jku} if jku else {})}
    visas: list[str] = []
    for entitlement in get_active_entitlements(config, user_id, at):
        # an ended approval (revoked, closed) gives no visa whenever it ended: the entitlement
        # look-up answers for an instant, and a revocation recorded by a process whose clock
        # runs ahead must not leave a visa issued in between
        if get_approval_status(config, entitlement.application_id)["status"] != "approved":
            continue
        document = get_signed_approval(config, entitlement.application_id)
        grant = document.body
        digest = compute_document_digest(document)
        with read_platform(config) as conn:
            datasets: list[tuple[str, str | None]] = [
                (project_dataset(grant["project_id"]), None)
            ] + [
                (dataset_urn(d), category)
                for d, category in _granted_datasets(
                    conn, entitlement.application_id, list(grant["data_categories"])
                )
            ]
        asserted = int(datetime.fromisoformat(grant["issued_at"]).timestamp())
        expires = _epoch(date.fromisoformat(grant["valid_until"]), end_of_day=True)
        for dataset, category in datasets:
            claims: dict[str, Any] = {
                "iss": VISA_ISSUER,
                "sub": user_id,
                "iat": asserted,
                "exp": expires,
                "jti": _jti(digest, user_id, dataset),
                "ga4gh_visa_v1": {
                    "type": VISA_TYPE,
                    "asserted": asserted,
                    "value": dataset,
                    "source": VISA_SOURCE,
                    "by": VISA_BY,
                },
                "genomlab_approval": {
                    "application_id": entitlement.application_id,
                    "project_id": grant["project_id"],
                    "approval_digest": digest,
                },
            }
            if category is not None:
                claims["genomlab_dataset"] = {"data_category": category}
            visas.append(jwt.encode(claims, private_key, algorithm="EdDSA", headers=headers))
    return visas


def decode_unverified(token: str) -> dict[str, Any]:
    """A visa's claims without any check (for display and choosing; never for access)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def verify_visa(
    token: str,
    public_key: Any,
    *,
    dataset: str | None = None,
    data_category: str | None = None,
    look_up: ApprovalLookUp,
    user_id: str | None = None,
) -> VerifiedVisa:
    """The grant a visa states, if it holds now for ``dataset``; else :class:`InvalidVisa`.

    1. the token: EdDSA signature with the platform's visa key (``public_key``: an
       ``Ed25519PublicKey`` or a key from the JWKS, e.g. ``PyJWKClient(...).get_signing_key_
       from_jwt(token).key``), ``typ``, issuer, required claims, ``exp`` and ``iat`` against
       :func:`genomlab.clock.now`; ``ga4gh_visa_v1`` of type ``ControlledAccessGrants`` whose
       ``value`` is ``dataset`` -- or, given ``data_category`` instead, a tagged dataset
       (``urn:genomlab:dataset:…``) whose signed ``genomlab_dataset.data_category`` is it
       (:class:`WrongDataset` otherwise); ``jti`` the one the platform gives that approval, user and
       dataset; ``sub`` = ``user_id`` when the caller also verified who is asking;
    2. the platform's records now (``look_up(application_id)``): the approval exists, is still
       ``approved`` and is still the signed approval the visa names (``approval_digest``).
    """
    if (dataset is None) == (data_category is None):
        raise ValueError("verify_visa: give the dataset or the data category asked, one of them")
    try:
        header = jwt.get_unverified_header(token)
        if str(header.get("typ", "")).upper() != VISA_TYP:
            raise InvalidVisa("visa: header typ is not JWT")
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=["EdDSA"],
            issuer=VISA_ISSUER,
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidVisa(f"visa: {exc}") from exc
    now = clock.now().timestamp()
    if claims["exp"] <= now:
        raise InvalidVisa(f"visa {claims['jti']}: expired")
    if claims["iat"] > now + 30:
        raise InvalidVisa(f"visa {claims['jti']}: issued in the future")
    visa = claims["ga4gh_visa_v1"]
    approval = claims["genomlab_approval"]
    if not isinstance(visa, dict) or not isinstance(approval, dict):
        raise InvalidVisa(
            f"visa {claims['jti']}: ga4gh_visa_v1 or genomlab_approval is not an object"
        )
    if visa.get("type") != VISA_TYPE:
        raise InvalidVisa(f"visa {claims['jti']}: type {visa.get('type')!r} is not {VISA_TYPE}")
    granted = str(visa.get("value", ""))
    if dataset is not None and granted != dataset:
        raise WrongDataset(f"visa {claims['jti']}: grants {granted!r}, not {dataset}")
    if data_category is not None:
        tagged = claims.get("genomlab_dataset")
        category = tagged.get("data_category") if isinstance(tagged, dict) else None
        if not granted.startswith(dataset_urn("")) or category != data_category:
            raise WrongDataset(
                f"visa {claims['jti']}: grants {granted!r}, not a dataset of {data_category} data"
            )
    subject = str(claims["sub"])
    if user_id is not None and subject != user_id:
        raise InvalidVisa(f"visa {claims['jti']}: issued to {subject}, not to {user_id}")
    digest = str(approval.get("approval_digest", ""))
    if claims["jti"] != _jti(digest, subject, granted):
        raise InvalidVisa(f"visa {claims['jti']}: jti does not match its approval")
    application_id = str(approval.get("application_id", ""))
    try:
        status = look_up(application_id)
    except NotFoundError as exc:
        raise InvalidVisa(f"visa {claims['jti']}: {exc}") from exc
    if status.get("status") != APPROVED:
        raise InvalidVisa(
            f"visa {claims['jti']}: approval {application_id} is {status.get('status')}"
        )
    if status.get("approval_digest") != digest:
        raise InvalidVisa(
            f"visa {claims['jti']}: approval {application_id} was re-signed; "
            "the visa stands on an earlier one"
        )
    return VerifiedVisa(
        subject,
        granted,
        application_id,
        str(status.get("project_id", "")),
        datetime.fromtimestamp(claims["exp"], UTC),
        str(claims["jti"]),
    )
