"""Who holds a visa, for the data service's endpoints: the one place a bearer visa is checked.

htsget, ``POST /api/feasibility`` and the Beacon (``/individuals``, ``/g_variants``) accept a
GA4GH Passport ``ControlledAccessGrants`` visa of the platform (:mod:`genomlab.platform.visas`)
as ``Authorization: Bearer <visa>``. :class:`VisaCheck` verifies it with
:func:`~genomlab.platform.visas.verify_visa` -- signature with the key the platform publishes
in its JWKS (PyJWT's ``PyJWKClient``), expiry against :func:`genomlab.clock.now`, the dataset
asked for, and the approval asked of the platform now (revocation ends a visa at once). The
platform not answering, or no platform client to ask it with, is
:class:`~genomlab.clients.oauth.ServiceUnavailable` (503): never assumed.

What a query reads decides the dataset: htsget a project's release
(``urn:genomlab:project:<project>``); feasibility and Beacon queries one side of the
feasibility index, whose data category (:data:`SIDE_CATEGORY`) a tagged dataset's visa must
state (``genomlab_dataset.data_category``, signed).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import jwt

from genomlab.clients.oauth import ServiceUnavailable, get_service_endpoint
from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError, NotFoundError
from genomlab.platform.visas import (
    JWKS_PATH,
    ApprovalLookUp,
    InvalidVisa,
    VerifiedVisa,
    WrongDataset,
    decode_unverified,
    verify_visa,
)

KeyResolver = Callable[[str], Any]
"""visa JWT → the platform's key that verifies it (from the JWKS by ``kid``)."""
SIDE_CATEGORY = {"clinical": "clinical", "genomic": "genomic", "variant": "genomic"}
"""Side of the feasibility index (:func:`genomlab.data_service.feasibility.choose_side`) → the
data category of the platform's datasets it answers from."""

__all__ = [
    "SIDE_CATEGORY",
    "InvalidVisa",
    "KeyResolver",
    "VisaCheck",
    "WrongDataset",
    "is_visa",
]


def is_visa(authorization: str | None) -> bool:
    """Whether an ``Authorization`` header carries a GA4GH visa (a ``ga4gh_visa_v1`` claim)
    rather than a person token; unread claims decide nothing, the check comes after."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        return "ga4gh_visa_v1" in decode_unverified(token.strip())
    except jwt.PyJWTError:
        return False


class VisaCheck:
    """Verifies visas with ``resolve_key`` (token → key) and the platform's approval look-up
    (``look_up()`` at each request; it raises :class:`ServiceUnavailable` when the platform
    cannot be asked)."""

    def __init__(self, resolve_key: KeyResolver, look_up: Callable[[], ApprovalLookUp]) -> None:
        self.resolve_key = resolve_key
        self.look_up = look_up

    @classmethod
    def for_service(cls, config: GenomlabConfig, platform: Any) -> VisaCheck:
        """The check as the data service makes it: keys from the platform service's JWKS
        (trusting the platform's CA), approvals asked of the platform with the service's own
        client (``platform``: a :class:`~genomlab.clients.platform.PlatformStatusClient`;
        ``None`` without a client file: every visa is then answered 503)."""
        clients: dict[str, jwt.PyJWKClient] = {}

        def resolve_key(token: str) -> Any:
            endpoint = get_service_endpoint(config, "platform")
            if endpoint.url not in clients:
                context = ssl.create_default_context(cafile=str(endpoint.ca))
                clients.clear()
                clients[endpoint.url] = jwt.PyJWKClient(
                    endpoint.url + JWKS_PATH, ssl_context=context
                )
            return clients[endpoint.url].get_signing_key_from_jwt(token).key

        def look_up() -> ApprovalLookUp:
            if platform is None:
                raise ServiceUnavailable(
                    "the data service has no platform client to check visas with "
                    "(issue one: genomlab platform nodes issue-client … --save)"
                )
            lookup: ApprovalLookUp = platform.get_approval_status
            return lookup

        return cls(resolve_key, look_up)

    def verify(
        self,
        authorization: str | None,
        *,
        dataset: str | None = None,
        data_category: str | None = None,
    ) -> VerifiedVisa:
        """The visa of an ``Authorization`` header, holding now for ``dataset`` (or a dataset of
        ``data_category``). :class:`InvalidVisa` (401), :class:`WrongDataset` (403) or
        :class:`ServiceUnavailable` (503)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise InvalidVisa("a visa (bearer token) is needed")
        look_up = self.look_up()  # no platform to ask: 503 before anything else
        try:
            key = self.resolve_key(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise ServiceUnavailable(f"platform JWKS: {exc}") from exc
        except ServiceUnavailable:
            raise
        except Exception as exc:  # unknown kid, unreadable token
            raise InvalidVisa(f"visa: {exc}") from exc

        def asked(application_id: str) -> Any:
            try:
                return look_up(application_id)
            except (NotFoundError, ServiceUnavailable):
                raise
            except GenomlabError as exc:  # any other answer (our client refused): never assume
                raise ServiceUnavailable(f"cannot ask the platform about a visa: {exc}") from exc

        return verify_visa(token, key, dataset=dataset, data_category=data_category, look_up=asked)

    def verify_for_index(self, authorization: str | None, side: str | None) -> VerifiedVisa:
        """A visa for a feasibility or Beacon query answered from ``side`` of the index: a
        tagged dataset of that side's data category. ``side`` ``None`` (a query no side can
        answer, refused 400 after this check) takes the category the visa states, so the
        visa is still verified in full before the caller learns anything about the query."""
        if side is not None:
            category = SIDE_CATEGORY[side]
        else:
            try:
                stated = decode_unverified((authorization or "").partition(" ")[2].strip())
            except jwt.PyJWTError as exc:
                raise InvalidVisa(f"visa: {exc}") from exc
            tagged = stated.get("genomlab_dataset")
            category = str(tagged.get("data_category")) if isinstance(tagged, dict) else ""
        return self.verify(authorization, data_category=category or "clinical")
