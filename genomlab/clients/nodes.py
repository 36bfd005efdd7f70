"""GRZ and KDK services as their callers see them: dataset attributes, fields, the operator's run.

A node service (``genomlab serve grz|kdk --node ID``) serves

- ``GET /api/datasets/attributes``: one row per consented dataset (the columns of
  :data:`genomlab.data_service.nodes.GENOME_ATTRIBUTES` / ``CLINICAL_ATTRIBUTES``; never
  genotypes, never identities); scope ``datasets:attributes`` (the trust centre, the data
  service);
- ``POST /api/datasets/fields`` ``{pseudonyms, fields}`` (KDK): the fields of a release; scope
  ``datasets:read`` (the data service only);
- ``POST /api/intake/run``: the node's operator starts intake of its inbox (a GRZ set up on
  BfArM's grzctl: its pipeline, over ``{"submission_ids": [...]}`` if given);
- ``GET /api/intake/records`` (GRZ): the operator's view of its submissions' records.

:class:`NodeServiceReader` has the read protocol's names
(:class:`genomlab.data_service.nodes.GenomeNodeReader` / ``ClinicalNodeReader``:
``get_dataset_attributes``, ``read_fields``), so the trust centre's cohort selection and the
data service use it in place of the in-process reader. Tokens are the caller's own
(:class:`~genomlab.clients.oauth.BearerTokens`, audience ``urn:genomlab:node``).

Examples
--------
>>> tokens = BearerTokens(config, trust_center_client, ATTRIBUTES_SCOPE)  # doctest: +SKIP
>>> grzs, kdks = get_node_service_readers(config, tokens)  # doctest: +SKIP
>>> kdks[0].get_dataset_attributes().columns[:2]  # doctest: +SKIP
['pseudonym', 'disease_type']
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from genomlab.clients.oauth import (
    BearerTokens,
    ServiceUnavailable,
    get_service_endpoint,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, ValidationFailed

ATTRIBUTES_SCOPE = "datasets:attributes"
"""Dataset attributes (pseudonym, disease and library type, sex, birth month, ICD-10-GM, HPO):
the trust centre's cohort selection and the data service."""
READ_SCOPE = "datasets:read"
"""The fields of a release: the data service only."""
ATTRIBUTES_PATH = "/api/datasets/attributes"
FIELDS_PATH = "/api/datasets/fields"
INTAKE_PATH = "/api/intake/run"
INTAKE_RECORDS_PATH = "/api/intake/records"
OPERATOR_CREDENTIAL_FILE = "operator-credential.json"
"""``<node dir>/operator-credential.json`` (0600): the node operator's secret for
``POST /api/intake/run``. Whoever can read the node's folder (its OS account) operates it."""


def get_node_service_name(kind: str, node_id: str) -> str:
    """The service record's name of a node instance: ``grz-GRZK00001``."""
    return f"{kind}-{node_id}"


def list_node_services(config: GenomlabConfig) -> dict[str, list[str]]:
    """The node services that recorded themselves in ``<home>/services/``: ``{"grz": [ids],
    "kdk": [ids]}`` (sorted). The records are all a separated service can see of the nodes."""
    found: dict[str, list[str]] = {"grz": [], "kdk": []}
    folder = config.home / "services"
    for kind in found:
        found[kind] = sorted(
            p.name[len(kind) + 1 : -len(".json")]
            for p in folder.glob(f"{kind}-*.json")
            if not p.name.endswith(".ca.pem")
        )
    return found


def _frame(rows: Any, schema: pl.Schema, source: str) -> pl.DataFrame:
    from genomlab.data_service.nodes import check_columns

    if not isinstance(rows, list):
        raise ValidationFailed(f"{source}: field datasets: expected a list of rows")
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return check_columns(frame, dict(schema), source)


class NodeServiceReader:
    """One running GRZ or KDK service, read with the caller's own bearer tokens."""

    def __init__(
        self, config: GenomlabConfig, kind: str, node_id: str, tokens: BearerTokens
    ) -> None:
        self.config = config
        self.kind = kind
        self.node_id = node_id
        self.tokens = tokens
        self.service = get_node_service_name(kind, node_id)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        endpoint = get_service_endpoint(self.config, self.service)
        try:
            with endpoint.http() as http:
                answer = http.request(method, path, json=body, headers=self.tokens.headers())
                if answer.status_code == 401:  # a token from before a re-approval: one fresh
                    self.tokens.forget()
                    answer = http.request(method, path, json=body, headers=self.tokens.headers())
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"{self.service}: {exc}") from exc
        return raise_for_answer(self.service, answer)

    def get_dataset_attributes(self) -> pl.DataFrame:
        """One row per consented dataset of the node (the read contract's columns)."""
        from genomlab.data_service.nodes import CLINICAL_ATTRIBUTES, GENOME_ATTRIBUTES

        answer = self._call("GET", ATTRIBUTES_PATH)
        schema = GENOME_ATTRIBUTES if self.kind == "grz" else CLINICAL_ATTRIBUTES
        return _frame(answer.get("datasets"), schema, f"{self.service} attributes")

    def read_fields(self, pseudonyms: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """``pseudonym`` plus ``fields`` of the given datasets (a KDK; scope datasets:read)."""
        answer = self._call(
            "POST", FIELDS_PATH, {"pseudonyms": list(map(str, pseudonyms)), "fields": list(fields)}
        )
        rows = answer.get("datasets")
        if not isinstance(rows, list):
            raise ValidationFailed(f"{self.service} fields: field datasets: expected a list")
        columns = ["pseudonym", *fields]
        return (
            pl.DataFrame(rows) if rows else pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
        ).select(columns)


def get_node_service_readers(
    config: GenomlabConfig, tokens: BearerTokens
) -> tuple[list[NodeServiceReader], list[NodeServiceReader]]:
    """Readers of every node service recorded in the home (GRZs, KDKs), with ``tokens``."""
    running = list_node_services(config)
    return (
        [NodeServiceReader(config, "grz", n, tokens) for n in running["grz"]],
        [NodeServiceReader(config, "kdk", n, tokens) for n in running["kdk"]],
    )


# --- the node's operator ----------------------------------------------------------------------


def get_operator_credential_path(node_dir: Path) -> Path:
    """Where a node keeps its operator's secret (``<node dir>/operator-credential.json``)."""
    return node_dir / OPERATOR_CREDENTIAL_FILE


def ensure_operator_credential(node_dir: Path) -> str:
    """The operator's secret of the node in ``node_dir``, made on first use (256 random bits,
    0600, written atomically so racing starts end with one)."""
    path = get_operator_credential_path(node_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"operator_secret": secrets.token_urlsafe(32)}, out)
        try:
            os.link(tmp, path)  # the first start wins; a later one reads the winner's
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return load_operator_credential(path)


def load_operator_credential(path: Path) -> str:
    """The operator's secret in ``path``; one line naming the file otherwise."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"{path}: no operator credential (the node's service makes it at its first start)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{path}: cannot read the operator credential ({exc})") from exc
    secret = data.get("operator_secret") if isinstance(data, dict) else None
    if not isinstance(secret, str) or len(secret) < 32:
        raise ValidationFailed(f"{path}: field operator_secret: missing or too short")
    return secret


def check_operator_secret(presented: str, expected_sha256: bytes) -> bool:
    """Whether ``presented`` is the operator's secret (constant-time over its sha256)."""
    return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), expected_sha256)


class NodeOperatorClient:
    """The node operator's calls to its own node service (the operator credential)."""

    def __init__(self, config: GenomlabConfig, kind: str, node_id: str, node_dir: Path) -> None:
        self.config = config
        self.service = get_node_service_name(kind, node_id)
        self.secret = load_operator_credential(get_operator_credential_path(node_dir))

    def run_intake(self, submission_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """Take in what is in the node's inbox; the service's summary. A GRZ on BfArM's
        grzctl (set up by its operator) runs its pipeline over ``submission_ids`` (default:
        the whole inbox) and answers each one's outcome and every submission's record."""
        body = None if submission_ids is None else {"submission_ids": list(submission_ids)}
        return post_as_operator(self.config, self.service, self.secret, INTAKE_PATH, body)

    def get_intake_records(self) -> dict[str, Any]:
        """A GRZ's records of its submissions (grz-db's state, the last error, genomlab's
        state and Meldebestätigung) and its processing chain (``grzctl`` or ``None``: not set
        up on grzctl, no records)."""
        return post_as_operator(self.config, self.service, self.secret, INTAKE_RECORDS_PATH,
                                method="GET")


def post_as_operator(config: GenomlabConfig, service: str, secret: str,
                     path: str, body: dict[str, Any] | None = None, *,
                     method: str = "POST") -> dict[str, Any]:
    """``POST path`` (or ``method``) to running ``service`` with its operator's ``secret`` as
    the bearer and ``body`` as JSON; the service's JSON answer, its refusal as the matching
    error. No time limit: an operator's job (an inbox's intake, an index over every node)
    takes the time it takes."""
    endpoint = get_service_endpoint(config, service)
    try:
        with endpoint.http() as http:
            http.timeout = httpx.Timeout(None)
            answer = http.request(method, path, json=body,
                                  headers={"Authorization": f"Bearer {secret}"})
    except httpx.TransportError as exc:
        raise ServiceUnavailable(f"{service}: {exc}") from exc
    answered: dict[str, Any] = raise_for_answer(service, answer)
    return answered
