"""GRZ and KDK services as their callers see them: attributes, fields, genotypes, operator's run.

A node service (``genomlab serve grz|kdk --node ID``) serves

- ``GET /api/datasets/attributes``: one row per consented dataset (the columns of
  :data:`genomlab.data_service.nodes.GENOME_ATTRIBUTES` / ``CLINICAL_ATTRIBUTES``; never
  genotypes, never identities); scope ``datasets:attributes`` (the trust centre, the data
  service);
- ``GET /api/datasets/site-counts`` (GRZ): carriers per allele over the consented datasets
  (:data:`~genomlab.data_service.nodes.SITE_COLUMNS`, for the feasibility index); scope
  ``datasets:attributes`` (the trust centre, the data service);
- ``POST /api/datasets/fields`` ``{pseudonyms, fields}`` (KDK): the fields of a release; scope
  ``datasets:read`` (the data service only);
- ``POST /api/datasets/genotypes`` ``{pseudonyms}`` (GRZ): the consented genotypes of only those
  datasets as a MatrixTable ``genotypes.mt`` in an uncompressed tar (the MatrixTable's parts
  are compressed already), with its SHA-256 in a ``Repr-Digest`` header (RFC 9530:
  ``sha-256=:<base64>:``); scope ``datasets:read`` (the data service only);
- ``POST /api/intake/run``: the node's operator starts intake of its inbox (a GRZ set up on
  BfArM's grzctl: its pipeline, over ``{"submission_ids": [...]}`` if given);
- ``GET /api/intake/records`` (GRZ): the operator's view of its submissions' records.

:class:`NodeServiceReader` has the read protocol's names
(:class:`genomlab.data_service.nodes.GenomeNodeReader` / ``ClinicalNodeReader``:
``get_dataset_attributes``, ``get_site_counts``, ``export_cohort_genotypes``, ``read_fields``),
so the trust centre's cohort selection and the data service use it in place of the in-process
reader. Tokens are the caller's own (:class:`~genomlab.clients.oauth.BearerTokens`, audience
``urn:genomlab:node``).

Examples
--------
>>> tokens = BearerTokens(config, trust_center_client, ATTRIBUTES_SCOPE)  # doctest: +SKIP
>>> grzs, kdks = get_node_service_readers(config, tokens)  # doctest: +SKIP
>>> kdks[0].get_dataset_attributes().columns[:2]  # doctest: +SKIP
['pseudonym', 'disease_type']
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
import polars as pl

from genomlab.clients.oauth import (
    TIMEOUT_SECONDS,
    BearerTokens,
    ServiceUnavailable,
    get_service_endpoint,
    raise_for_answer,
)
from genomlab.config import GenomlabConfig
from genomlab.errors import NotFoundError, ValidationFailed

if TYPE_CHECKING:
    from genomlab.hail_session import HailModule

ATTRIBUTES_SCOPE = "datasets:attributes"
"""Dataset attributes (pseudonym, disease and library type, sex, birth month, ICD-10-GM, HPO):
the trust centre's cohort selection and the data service."""
READ_SCOPE = "datasets:read"
"""The fields of a release: the data service only."""
ATTRIBUTES_PATH = "/api/datasets/attributes"
FIELDS_PATH = "/api/datasets/fields"
GENOTYPES_PATH = "/api/datasets/genotypes"
SITE_COUNTS_PATH = "/api/datasets/site-counts"
DIGEST_HEADER = "Repr-Digest"
"""The genotype tar's SHA-256 (RFC 9530, ``sha-256=:<base64>:``; the tar is sent as it is, no
content coding, so the representation is the bytes sent)."""
HAIL_TIMEOUT = httpx.Timeout(TIMEOUT_SECONDS, read=None)
"""Answers that Hail computes in the GRZ's service (site counts, the genotype export: its first
such request starts Hail there too) take their time: no read timeout, as for an intake run."""
GENOTYPES_MT = "genotypes.mt"
"""The one top-level entry of the genotype tar."""
GENOTYPES_TMP_PREFIX = "genotypes"
"""``<institution dir>/tmp/genotypes-<host>-<pid>-<random>``: the GRZ's packed export and the
data service's download (owner-only, swept after a crash: :mod:`genomlab.leftovers`)."""
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


def format_sha256_digest(data_digest: bytes) -> str:
    """A ``Repr-Digest`` value (RFC 9530) for a SHA-256 digest.

    Examples
    --------
    >>> format_sha256_digest(hashlib.sha256(b"").digest())
    'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'
    """
    return f"sha-256=:{base64.b64encode(data_digest).decode()}:"


def parse_sha256_digest(value: str | None, source: str) -> bytes:
    """The SHA-256 digest in a ``Repr-Digest`` value (RFC 9530: a dictionary of algorithm →
    ``:<base64>:``; other algorithms are ignored); one line naming ``source`` otherwise.

    Examples
    --------
    >>> value = "sha-512=:AA==:, " + format_sha256_digest(bytes(range(32)))
    >>> parse_sha256_digest(value, "x") == bytes(range(32))
    True
    >>> parse_sha256_digest(None, "G")
    Traceback (most recent call last):
    ...
    genomlab.errors.ValidationFailed: G: field Repr-Digest: missing (expected sha-256=:<base64>:)
    """
    for member in (value or "").split(","):
        name, _, item = member.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        item = item.strip()
        try:
            if len(item) < 2 or item[0] != ":" or item[-1] != ":":
                raise ValueError("not a byte sequence")
            found = base64.b64decode(item[1:-1], validate=True)
        except ValueError as exc:
            raise ValidationFailed(f"{source}: field {DIGEST_HEADER}: {item!r} is no "
                                   f"sha-256 byte sequence ({exc})") from exc
        if len(found) != hashlib.sha256().digest_size:
            raise ValidationFailed(f"{source}: field {DIGEST_HEADER}: sha-256 of "
                                   f"{len(found)} bytes, expected 32")
        return found
    raise ValidationFailed(f"{source}: field {DIGEST_HEADER}: "
                           f"{'missing' if value is None else repr(value)} "
                           "(expected sha-256=:<base64>:)")


def _frame(rows: Any, schema: pl.Schema, source: str, field: str = "datasets") -> pl.DataFrame:
    from genomlab.data_service.nodes import check_columns

    if not isinstance(rows, list):
        raise ValidationFailed(f"{source}: field {field}: expected a list of rows")
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return check_columns(frame, dict(schema), source)


class NodeServiceReader:
    """One running GRZ or KDK service, read with the caller's own bearer tokens.

    A GRZ's genotypes (:meth:`export_cohort_genotypes`) are downloaded into a folder of the
    caller's own, ``<data service dir>/tmp/genotypes-<host>-<pid>-<random>`` (0700), which the
    returned MatrixTable reads from (Hail reads lazily). The reader owns these folders until
    :meth:`close` (or the end of a ``with`` block) removes them: close it after the release is
    written. A crashed caller's folders are swept at the next download
    (:func:`genomlab.leftovers.make_owned_dir`).
    """

    def __init__(
        self, config: GenomlabConfig, kind: str, node_id: str, tokens: BearerTokens
    ) -> None:
        self.config = config
        self.kind = kind
        self.node_id = node_id
        self.tokens = tokens
        self.service = get_node_service_name(kind, node_id)
        self.downloads: list[Path] = []
        """The genotype folders this reader downloaded and has not removed yet."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Remove the downloaded genotypes (MatrixTables read from them no longer work)."""
        while self.downloads:
            shutil.rmtree(self.downloads.pop(), ignore_errors=True)

    def _call(self, method: str, path: str, body: Any = None, *, hail: bool = False) -> Any:
        endpoint = get_service_endpoint(self.config, self.service)
        try:
            with endpoint.http() as http:
                if hail:
                    http.timeout = HAIL_TIMEOUT
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

    def get_site_counts(self) -> pl.DataFrame:
        """Carriers per allele over the GRZ's consented datasets (scope datasets:attributes)."""
        from genomlab.data_service.nodes import SITE_COLUMNS

        answer = self._call("GET", SITE_COUNTS_PATH, hail=True)
        return _frame(answer.get("sites"), SITE_COLUMNS, f"{self.service} site counts", "sites")

    def export_cohort_genotypes(self, hl: HailModule, pseudonyms: Sequence[str]) -> Any:
        """The GRZ's consented genotypes of only ``pseudonyms`` (restricted at the GRZ; column
        key ``s``), as a MatrixTable read from this reader's download folder (scope
        datasets:read; the folder lives until :meth:`close`).

        The tar is checked against the ``Repr-Digest`` the GRZ sent before anything is unpacked,
        unpacked with tarfile's ``data`` filter (no absolute paths, no ``..``, no links out;
        owner-only modes), and must hold ``genotypes.mt`` and nothing else. Raises
        ValidationFailed naming the service and the field for a bad answer (digest mismatch,
        bad tar, a dataset not asked for).
        """
        from genomlab.institution import Institution
        from genomlab.leftovers import make_owned_dir

        if self.kind != "grz":
            raise NotFoundError(f"{self.service}: a KDK holds no genotypes")
        source = f"{self.service} genotypes"
        wanted = list(map(str, pseudonyms))
        parent = Institution(self.config, "data_service").directory / "tmp"
        folder = make_owned_dir(parent, GENOTYPES_TMP_PREFIX)
        self.downloads.append(folder)
        try:
            tar_path = folder / "genotypes.tar"
            header, received = self._download(GENOTYPES_PATH, {"pseudonyms": wanted}, tar_path)
            expected = parse_sha256_digest(header, source)
            if not hmac.compare_digest(received, expected):
                raise ValidationFailed(
                    f"{source}: field {DIGEST_HEADER}: the tar received has sha-256 "
                    f"{base64.b64encode(received).decode()}, the GRZ sent "
                    f"{base64.b64encode(expected).decode()} (changed or cut off on the way)")
            _unpack_genotypes(tar_path, folder, source)
            tar_path.unlink()
            try:
                mt = hl.read_matrix_table(str(folder / GENOTYPES_MT))
                samples = set(mt.s.collect())
            except Exception as exc:  # Hail's errors are Java's: one line naming the source
                raise ValidationFailed(f"{source}: {GENOTYPES_MT} is no MatrixTable Hail can "
                                       f"read ({type(exc).__name__})") from exc
            extra = sorted(samples - set(wanted))
            if extra:
                raise ValidationFailed(f"{source}: field s: dataset {extra[0]!r} was not asked "
                                       f"for ({len(extra)} such)")
        except BaseException:
            self.downloads.remove(folder)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return mt

    def _download(self, path: str, body: Any, target: Path) -> tuple[str | None, bytes]:
        """POST ``body`` and write the answer's bytes as sent to ``target`` (0600); the answer's
        ``Repr-Digest`` header and the SHA-256 of what was written."""
        endpoint = get_service_endpoint(self.config, self.service)
        try:
            with endpoint.http() as http:
                http.timeout = HAIL_TIMEOUT
                for attempt in range(2):
                    with http.stream("POST", path, json=body,
                                     headers=self.tokens.headers()) as answer:
                        if answer.status_code == 401 and attempt == 0:
                            self.tokens.forget()  # a token from before a re-approval: one fresh
                            continue
                        if not answer.is_success:
                            answer.read()
                            raise_for_answer(self.service, answer)
                        digest = hashlib.sha256()
                        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "wb") as out:
                            for chunk in answer.iter_raw(1 << 20):
                                digest.update(chunk)
                                out.write(chunk)
                        return answer.headers.get(DIGEST_HEADER), digest.digest()
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"{self.service}: {exc}") from exc
        raise AssertionError("unreachable: the second attempt returns or raises")


def _owner_only(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
    """tarfile's ``data`` filter (no absolute paths, no ``..``, no links out, no devices), then
    owner-only modes whatever the tar says (folders 0700, files 0600)."""
    member = tarfile.data_filter(member, dest_path)
    return member.replace(mode=0o700 if member.isdir() else 0o600, deep=False)


def _unpack_genotypes(tar_path: Path, folder: Path, source: str) -> None:
    """Unpack ``genotypes.mt`` from ``tar_path`` into ``folder`` (tarfile's ``data`` filter,
    owner-only modes); ValidationFailed naming ``source`` for a bad tar or an entry outside
    ``genotypes.mt``."""
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            members = tar.getmembers()
            for member in members:
                if member.name != GENOTYPES_MT and not member.name.startswith(
                        f"{GENOTYPES_MT}/"):
                    raise ValidationFailed(f"{source}: tar entry {member.name!r} is outside "
                                           f"{GENOTYPES_MT}")
            tar.extractall(folder, members=members, filter=_owner_only)
    except (tarfile.TarError, OSError) as exc:  # tarfile.FilterError is a TarError
        raise ValidationFailed(f"{source}: not a usable tar of {GENOTYPES_MT} ({exc})") from exc
    if not (folder / GENOTYPES_MT).is_dir():
        raise ValidationFailed(f"{source}: the tar holds no {GENOTYPES_MT}")


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
        the whole inbox) and answers each one's outcome."""
        body = None if submission_ids is None else {"submission_ids": list(submission_ids)}
        return call_as_operator(self.config, self.service, self.secret, "POST", INTAKE_PATH,
                                body)

    def get_intake_records(self) -> dict[str, Any]:
        """A GRZ's records of its submissions (grz-db's state, the last error, genomlab's
        state and Meldebestätigung) and its processing chain (``grzctl`` or ``None``: not set
        up on grzctl, no records)."""
        return call_as_operator(self.config, self.service, self.secret, "GET",
                                INTAKE_RECORDS_PATH)


def call_as_operator(config: GenomlabConfig, service: str, secret: str, method: str,
                     path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``METHOD path`` to running ``service`` with its operator's ``secret`` as the bearer and
    ``body`` as JSON; the service's JSON answer, its refusal as the matching error. No time
    limit: an operator's job (an inbox's intake, an index over every node) takes the time it
    takes."""
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
