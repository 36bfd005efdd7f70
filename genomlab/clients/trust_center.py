"""The trust centre as its service's callers see it: pseudonyms for nodes, maps for the data
service.

:class:`TrustCenterClient` has the in-process :class:`~genomlab.trust_center.service.TrustCenter`'s
method names, so it is a :class:`genomlab.messages.PseudonymService` for a node and a
``LinkageService`` for :func:`genomlab.data_service.release.release_application`. Each call
carries a bearer token the platform issued to the caller's own client; who is asking is what the
token says (the ``node_id``/``actor`` arguments are checked against it, never sent as identity).

Examples
--------
>>> client = TrustCenterClient.for_instance(config, "data_service")  # doctest: +SKIP
>>> linkage = client.issue_linkage_map(approval, actor="data_service",
...                                    genome_pseudonyms=[...])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from genomlab.clients.oauth import (
    BearerTokens,
    ClientCredentials,
    ServiceUnavailable,
    get_credentials_path,
    get_service_endpoint,
    load_client_credentials,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import ValidationFailed
from genomlab.institution import parse_institution
from genomlab.messages import DatasetDomain, SignedDocument
from genomlab.trust_center.service import LinkageMap

SERVICE = "trust_center"
PSEUDONYM_SCOPE = "pseudonyms:request"
LINKAGE_SCOPE = "linkage:request"
EXCHANGE_PATH = "/api/case-numbers/exchange"
CONFIRM_PATH = "/api/case-numbers/confirm"
LINKAGE_PATH = "/api/linkage-maps"


def _texts(values: Sequence[str] | np.ndarray) -> list[str]:
    return np.asarray(values).astype(str).tolist() if len(values) else []


class TrustCenterClient:
    """Calls to the running trust-centre service with one instance's client credentials."""

    def __init__(self, config: GenomlabConfig, credentials: ClientCredentials, *,
                 scope: str) -> None:
        self.config = config
        self.credentials = credentials
        self.tokens = BearerTokens(config, credentials, scope)

    @classmethod
    def for_instance(cls, config: GenomlabConfig, instance: str) -> TrustCenterClient:
        """The client of ``instance`` (``grz:GRZ…``, ``kdk:KDK…``, ``data_service``) with the
        credentials in its folder; the scope follows from the kind."""
        institution = parse_institution(config, instance)
        scope = LINKAGE_SCOPE if institution.kind == "data_service" else PSEUDONYM_SCOPE
        credentials = load_client_credentials(get_credentials_path(institution.directory))
        return cls(config, credentials, scope=scope)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        service = get_service_endpoint(self.config, SERVICE)
        try:
            with service.http() as http:
                answer = http.post(path, json=body, headers=self.tokens.headers())
                if answer.status_code == 401:  # a token from before a re-approval: one fresh
                    self.tokens.forget()
                    answer = http.post(path, json=body, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"{SERVICE}: {exc}") from exc
        return raise_for_answer(SERVICE, answer)

    def _check_node(self, node_id: str) -> None:
        if node_id != self.credentials.node_id:
            raise ValidationFailed(f"field node_id: {node_id} is not this client's node "
                                   f"{self.credentials.node_id}")

    def exchange_case_number(self, case_number: str, *, node_id: str,
                             domain: DatasetDomain) -> str:
        """The dataset pseudonym for ``case_number`` (see ``TrustCenter.exchange_case_number``)."""
        self._check_node(node_id)
        answer = self._post(EXCHANGE_PATH, {"case_number": case_number, "domain": domain})
        return str(answer["pseudonym"])

    def confirm_delivery(self, case_number: str, *, node_id: str, pseudonym: str) -> None:
        """Confirm delivery under ``pseudonym`` (see ``TrustCenter.confirm_delivery``)."""
        self._check_node(node_id)
        self._post(CONFIRM_PATH, {"case_number": case_number, "pseudonym": pseudonym})

    def issue_linkage_map(self, approval: SignedDocument, *, actor: str,
                          genome_pseudonyms: Sequence[str] | np.ndarray = (),
                          clinical_pseudonyms: Sequence[str] | np.ndarray = ()) -> LinkageMap:
        """A linkage map for the approved cohort among the presented persons.

        ``actor`` is not sent: the trust centre records the verified client id. The caller
        verifies the map's receipt with the trust centre's public key as before.
        """
        del actor
        answer = self._post(LINKAGE_PATH, {
            "approval": approval.model_dump(mode="json"),
            "genome_pseudonyms": _texts(genome_pseudonyms),
            "clinical_pseudonyms": _texts(clinical_pseudonyms)})
        return LinkageMap.from_json_dict(answer)
