"""The data service as a person calls it: feasibility queries over HTTPS.

:class:`DataServiceClient` has the in-process function's name
(:func:`genomlab.data_service.feasibility.run_feasibility_query`): it sends the Beacon v2
request with the person's bearer token and returns the service's answer. The service answers by
its own disclosure rules and audits by the verified person; the caller's configuration and any
name it passes change nothing (``user`` is accepted for the same signature and not sent).

Examples
--------
>>> client = DataServiceClient(config, person_tokens)  # doctest: +SKIP
>>> client.run_feasibility_query(make_request(["NCIT:C16576"]))["responseSummary"]  # doctest: +SKIP
{'exists': True, 'numTotalResults': 117}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import httpx

from genomlab.clients.oauth import ServiceUnavailable, get_service_endpoint, raise_for_answer
from genomlab.config import GenomlabConfig

SERVICE = "data_service"
FEASIBILITY_PATH = "/api/feasibility"
INDEX_PATH = "/api/index/rebuild"
"""``POST``: the data service's operator has the service rebuild its feasibility index."""


class TokenSource(Protocol):
    """Where a client's bearer tokens come from (a person's credentials)."""

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header of a request."""
        ...

    def forget(self) -> None:
        """Drop a cached token (after a 401)."""
        ...


def post_with_token(
    config: GenomlabConfig, service_name: str, tokens: TokenSource, path: str, body: Any
) -> Any:
    """POST ``body`` to a running service with a bearer token (one fresh token after a 401);
    the answer's JSON or the error it means."""
    service = get_service_endpoint(config, service_name)
    try:
        with service.http() as http:
            answer = http.post(path, json=body, headers=tokens.headers())
            if answer.status_code == 401:
                tokens.forget()
                answer = http.post(path, json=body, headers=tokens.headers())
    except httpx.TransportError as exc:
        raise ServiceUnavailable(f"{service_name}: {exc}") from exc
    return raise_for_answer(service_name, answer)


def load_person_tokens(config: GenomlabConfig, credentials_path: Path | None = None) -> TokenSource:
    """Tokens for the person of a credentials file (``credentials_path``, else
    ``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``), taken at the running
    platform's token endpoint."""
    from genomlab.clients.oauth import BearerTokens
    from genomlab.platform.person_credentials import (
        PERSON_SCOPE,
        get_credentials_path,
        load_person_credentials,
    )

    credentials = load_person_credentials(get_credentials_path(credentials_path))
    return BearerTokens(config, credentials, PERSON_SCOPE)


def service_running(config: GenomlabConfig, service_name: str) -> bool:
    """Whether ``service_name`` has a record in ``<home>/services/`` (it runs): then the CLI
    calls it instead of opening its store."""
    return (config.home / "services" / f"{service_name}.json").exists()


class DataServiceClient:
    """Feasibility queries to the running data service as the person ``tokens`` speak for."""

    def __init__(self, config: GenomlabConfig, tokens: TokenSource) -> None:
        self.config = config
        self.tokens = tokens

    def run_feasibility_query(
        self, request: dict[str, Any], *, user: str | None = None
    ) -> dict[str, Any]:
        """The service's Beacon v2 answer to ``request`` (``user`` is not sent: the service
        knows who asks from the token)."""
        del user
        answer: dict[str, Any] = post_with_token(
            self.config, SERVICE, self.tokens, FEASIBILITY_PATH, request
        )
        return answer


def ask_feasibility(
    config: GenomlabConfig,
    request: dict[str, Any],
    *,
    user: str,
    credentials: str | Path | None = None,
) -> dict[str, Any]:
    """The Beacon v2 answer to ``request`` for the verified person ``user`` of the credentials
    file (the feasibility notebook's one call).

    When the data service runs (``<home>/services/data_service.json``, as behind the hub) the
    request goes to it with the person's token (``credentials``, else ``$GENOMLAB_CREDENTIALS``,
    else ``~/.genomlab/credentials.json``): a person's server may not open the data service's
    store or its signing key, and the service audits and records the answer under the token's
    verified subject (``user`` is not sent). Otherwise (the embedded default) it is answered
    in-process for ``user``, as :func:`~genomlab.data_service.feasibility.run_feasibility_query`.
    """
    if service_running(config, SERVICE):
        tokens = load_person_tokens(config, None if credentials is None else Path(credentials))
        return DataServiceClient(config, tokens).run_feasibility_query(request)
    from genomlab.data_service.feasibility import run_feasibility_query

    return run_feasibility_query(config, request, user=user)


class DataServiceOperatorClient:
    """The data service's operator's calls to the running service, with the operator
    credential in the data service's folder (``<data_service>/operator-credential.json``, 0600,
    made at the service's first start, as a node's: whoever can read the folder operates it).

    Examples
    --------
    >>> operator = DataServiceOperatorClient(config, data_service_folder)  # doctest: +SKIP
    >>> operator.build_feasibility_index()["n_clinical_datasets"]  # doctest: +SKIP
    57
    """

    def __init__(self, config: GenomlabConfig, folder: Path) -> None:
        from genomlab.clients.nodes import get_operator_credential_path, load_operator_credential

        self.config = config
        self.secret = load_operator_credential(get_operator_credential_path(folder))

    def build_feasibility_index(self) -> dict[str, Any]:
        """The service rebuilds its index from the running node services (the in-process
        function's name: :func:`genomlab.data_service.index.build_feasibility_index`); its
        digest, the nodes asked and the index's row counts."""
        from genomlab.clients.nodes import call_as_operator

        return call_as_operator(self.config, SERVICE, self.secret, "POST", INDEX_PATH)
