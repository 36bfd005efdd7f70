"""Configuration: one ``genomlab.toml`` plus ``GENOMLAB_*`` environment overrides.

The file is optional; every key has a default so that ``genomlab demo`` runs on a fresh machine with
the embedded default (SQLite files and local Spark under ``./genomlab-home``).

Lookup order for the file: the ``--config`` option of the CLI, then ``$GENOMLAB_CONFIG``, then
``./genomlab.toml`` if it exists. Environment variables override file values; nested keys are
joined with a double underscore, e.g. ``GENOMLAB_SPARK__MASTER=spark://host:7077`` or
``GENOMLAB_DISCLOSURE__MIN_CELL_COUNT=20``.

Invalid configuration fails fast with :class:`ConfigError`, whose message is one line naming the
source and the key, for example ``genomlab.toml: disclosure.min_cell_count: Input should be a
valid integer (got 'ten')``.

Example ``genomlab.toml``::

    home = "/srv/genomlab"

    [spark]
    master = "local[*]"
    driver_memory = "8g"

    [disclosure]
    min_cell_count = 10

    [stores]  # when given, all three institution stores must be named
    platform = "postgresql+psycopg://platform@127.0.0.1/platform"
    trust_center = "postgresql+psycopg://tc@127.0.0.1/trust_center"
    data_service = "sqlite:///{home}/data_service/data_service.db"

    [stores.grz]
    GRZK00001 = "sqlite:///{home}/grz/GRZK00001/grz.db"

A GRZ's own S3 (Ceph RGW, MinIO), where hospitals upload with BfArM's ``grz-cli`` and ``grzctl``
archives (see :class:`GrzS3Config`; unset: a local moto server per run). The credentials are
named, never written here: either two environment variables or a 0600 credentials file::

    [grz_s3.GRZK00001]
    endpoint_url = "https://s3.grz.example.org"
    region = "eu-central-1"
    inbox_bucket = "grzk00001-inbox"
    archive_consented_bucket = "grzk00001-archive-consented"
    archive_non_consented_bucket = "grzk00001-archive-non-consented"
    credentials_file = "/etc/genomlab/grzk00001-s3.toml"  # or access_key_env + secret_key_env
    ca_bundle = "/etc/genomlab/grz-s3-ca.pem"  # optional: the S3's TLS CA

An optional ``node_template`` under ``[stores]`` gives every node that ``[stores.grz]`` /
``[stores.kdk]`` does not list a store of its own, e.g. one PostgreSQL database per node::

    node_template = "postgresql+psycopg://{kind}_{node_id}@db/genomlab_{kind}_{node_id}"

Besides ``{home}``, store URLs may use ``{home_id}`` (12 hex digits of the sha256 of the home
path), so several homes can share one PostgreSQL database in schemas of their own (the
PostgreSQL test suite does this, see ``tests/conftest.py``).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "GENOMLAB_"
CONFIG_ENV = "GENOMLAB_CONFIG"
CREDENTIALS_ENV = "GENOMLAB_CREDENTIALS"
"""A person's credentials file (``genomlab.platform.person_credentials``): not configuration."""
DEFAULT_CONFIG_FILE = "genomlab.toml"
DEFAULT_HOME = "./genomlab-home"

NodeKind = Literal["grz", "kdk"]
InstitutionKind = Literal[
    "platform", "trust_center", "data_service", "airlock", "reports", "grz", "kdk"
]

_NODE_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    # genomDE node identifiers (grz-pydantic-models, submission metadata v1)
    "grz": re.compile(r"^GRZ[A-Z0-9]{3}[0-9]{3}$"),
    "kdk": re.compile(r"^KDK[A-Z0-9]{3}[0-9]{3}$"),
}
_SUPPORTED_URL = re.compile(r"^(sqlite|postgresql)(\+[a-z0-9_]+)?://")
_S3_ENDPOINT = re.compile(r"^https?://[^/?#\s]+/?$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's rules (no upper case)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """Invalid configuration; the message is one line that names the source and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Section):
    """Where Hail runs. ``local[*]`` by default; ``spark://host:7077`` for a standalone cluster."""

    master: str = "local[*]"
    driver_memory: str = "4g"
    executor_memory: str = "4g"
    min_block_size: int = Field(default=0, ge=0, description="MiB; 0 splits small VCFs.")
    log_level: Literal["ERROR", "WARN", "INFO"] = "ERROR"

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        if not re.match(r"^(local(\[(\*|\d+)\])?|spark://.+|yarn)$", value):
            raise ValueError("expected local[N], local[*], spark://HOST:PORT or yarn")
        return value

    @field_validator("driver_memory", "executor_memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not re.match(r"^\d+[kmgt]$", value):
            raise ValueError("expected a JVM memory size such as 4g or 512m")
        return value


class DisclosureConfig(_Section):
    """Disclosure-control thresholds shared by feasibility, dashboards, airlock and reports.

    Defaults follow ACRO's risk settings (threshold 10, p% 0.10, n,k = 2 / 0.90); the genomic
    rules use the same threshold unless configured otherwise.
    """

    min_cell_count: int = Field(default=10, ge=1)
    dominance_p: float = Field(default=0.10, gt=0, lt=1)
    dominance_n: int = Field(default=2, ge=1)
    dominance_k: float = Field(default=0.90, gt=0, le=1)
    suppress_zeros: bool = False
    min_allele_count: int = Field(default=10, ge=1)
    min_carrier_count: int = Field(default=10, ge=1)
    min_group_size: int = Field(default=10, ge=1)
    feasibility_budget: int = Field(
        default=100, ge=1, description="Answered feasibility queries per requester and period "
        "(over it: refused); bounds what colluding requesters can difference.")
    feasibility_budget_days: int = Field(default=30, ge=1,
                                         description="Length of that period (rolling), in days.")


class ReviewConfig(_Section):
    """Rules of the platform's review of data-use applications.

    ``committee_quorum``: once a handler has asked the scientific committee (§ 64e (9b) SGB V)
    to review an application, it can be approved only after at least this many committee
    members voted (approve, reject or abstain: an abstention counts as taking part, as in a
    quorum of those present). § 64e and the GenDV fix no number and BfArM's Geschäftsordnung
    is not public, so the default is 1: a requested review that nobody gave is no review.
    Set it to the committee's own quorum (e.g. a majority of its members).
    """

    committee_quorum: int = Field(default=1, ge=0)


MAX_PERSON_STATUS_TTL_SECONDS = 2.0
"""The longest staleness of a person's standing a service may accept (documented bound)."""


class ServicesConfig(_Section):
    """Rules of the HTTP services (``genomlab serve``) that are each service's own.

    ``person_status_ttl_seconds``: how long the data service may reuse the platform's positive
    answer about a person's token (registered, not withdrawn, credential active) for the same
    token, instead of asking the platform again. A withdrawn person or revoked credential is
    refused at most this long after the platform records it. 0 asks at every request; more
    than :data:`MAX_PERSON_STATUS_TTL_SECONDS` is refused. The airlock always asks.

    ``fork_server``: ``genomlab serve all`` and ``make demo`` fork each service from one process
    that imported the services' code once (:mod:`genomlab.services.forked`); false starts a
    fresh ``genomlab serve`` process for each (``GENOMLAB_SERVICES__FORK_SERVER=0``). A
    separated deployment always starts fresh processes, one per account.
    """

    person_status_ttl_seconds: float = Field(
        default=2.0, ge=0, le=MAX_PERSON_STATUS_TTL_SECONDS)
    fork_server: bool = True


class StoresConfig(_Section):
    """SQLAlchemy URLs of the institution stores. ``{home}`` is replaced by the home directory
    and ``{home_id}`` by a short hash of it."""

    platform: str
    trust_center: str
    data_service: str
    airlock: str | None = None  # unset: a SQLite file under <home>/airlock
    reports: str | None = None  # unset: a SQLite file under <home>/reports
    grz: dict[str, str] = Field(default_factory=dict)
    kdk: dict[str, str] = Field(default_factory=dict)
    node_template: str | None = Field(
        default=None,
        description="URL of unlisted nodes' stores; {kind} and {node_id} are filled in "
        "(and {home}). Unset: a SQLite file in the node's folder.",
    )

    @field_validator("platform", "trust_center", "data_service")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("node_template", "airlock", "reports")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("grz", "kdk")
    @classmethod
    def _node_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for url in value.values():
            _check_url(url)
        return value


class GrzS3Config(_Section):
    """One GRZ's own S3 (Ceph RGW, MinIO, any S3 API): ``[grz_s3.<GRZ id>]``.

    The hospitals upload into ``inbox_bucket`` with ``grz-cli``; ``grzctl`` downloads and cleans
    there and archives into ``archive_consented_bucket`` / ``archive_non_consented_bucket``. The
    operator creates the three buckets and publishes grz-cli's version policy in the inbox
    (``grzctl inbox push-version``); genomlab creates nothing there.

    The access key is given by reference, never in ``genomlab.toml``: either the names of two
    environment variables (``access_key_env``, ``secret_key_env``) or ``credentials_file``, an
    absolute path to a TOML file with ``access_key`` and ``secret_key`` that only its owner may
    read (mode 0600 or 0400). ``ca_bundle``: the PEM file of the CA that signed an ``https``
    endpoint's certificate (unset: the system's CAs).
    """

    endpoint_url: str
    region: str = "us-east-1"
    inbox_bucket: str
    archive_consented_bucket: str
    archive_non_consented_bucket: str
    access_key_env: str | None = None
    secret_key_env: str | None = None
    credentials_file: Path | None = None
    ca_bundle: Path | None = None

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not _S3_ENDPOINT.match(value):
            raise ValueError("expected an http:// or https:// URL of the S3 endpoint "
                             "(scheme, host and port, no path)")
        return value.rstrip("/")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9-]+$", value):
            raise ValueError("expected an S3 region name such as us-east-1")
        return value

    @field_validator("inbox_bucket", "archive_consented_bucket", "archive_non_consented_bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _S3_BUCKET.match(value) or ".." in value:
            raise ValueError("expected an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")
        return value

    @field_validator("access_key_env", "secret_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("expected the name of an environment variable, not its value")
        return value

    @field_validator("credentials_file", "ca_bundle")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_absolute():
            raise ValueError("expected an absolute path")
        return None if value is None else value.expanduser()

    @model_validator(mode="after")
    def _consistent(self) -> GrzS3Config:
        by_env = (self.access_key_env, self.secret_key_env)
        if self.credentials_file is not None and any(by_env):
            raise ValueError("give credentials_file or access_key_env + secret_key_env, "
                             "not both")
        if self.credentials_file is None and not all(by_env):
            raise ValueError("missing credentials: give credentials_file (a 0600 file) or both "
                             "access_key_env and secret_key_env (names of environment "
                             "variables)")
        buckets = [self.inbox_bucket, self.archive_consented_bucket,
                   self.archive_non_consented_bucket]
        if len(set(buckets)) != len(buckets):
            raise ValueError("inbox_bucket, archive_consented_bucket and "
                             "archive_non_consented_bucket must be three different buckets")
        if self.ca_bundle is not None and not self.endpoint_url.startswith("https://"):
            raise ValueError("ca_bundle is given but endpoint_url is not https://")
        return self

    def get_credentials(self, grz_id: str,
                        environ: Mapping[str, str] | None = None) -> tuple[str, str]:
        """The access key and secret key, read where the configuration points.

        Raises
        ------
        ConfigError
            Naming the GRZ, the key and the variable or file: a variable unset or empty, a
            credentials file missing, readable or writable by others, not TOML, or without
            ``access_key`` / ``secret_key``.
        """
        where = f"grz_s3.{grz_id}"
        if self.credentials_file is None:
            env = os.environ if environ is None else environ
            found = []
            for key, name in (("access_key_env", self.access_key_env),
                              ("secret_key_env", self.secret_key_env)):
                value = env.get(str(name), "")
                if not value:
                    raise ConfigError(f"{where}.{key}: environment variable {name} is not set")
                found.append(value)
            return found[0], found[1]
        path = self.credentials_file
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"{where}.credentials_file: {path}: cannot read it "
                              f"({exc.strerror})") from None
        if mode & 0o077:
            raise ConfigError(f"{where}.credentials_file: {path}: readable or writable by "
                              f"others (mode {mode & 0o777:04o}); it holds a secret key: "
                              "chmod 600 it")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{where}.credentials_file: {path}: not a readable TOML file "
                              f"({exc})") from None
        keys = []
        for key in ("access_key", "secret_key"):
            entry = data.get(key)
            if not isinstance(entry, str) or not entry:
                raise ConfigError(f"{where}.credentials_file: {path}: {key} missing or not a "
                                  "non-empty string")
            keys.append(entry)
        return keys[0], keys[1]


def _check_url(value: str) -> str:
    if not _SUPPORTED_URL.match(value):
        raise ValueError(f"expected a sqlite:// or postgresql:// URL, got {value!r}")
    return value


class GenomlabConfig(_Section):
    """The validated configuration. Build it with :func:`load_config`."""

    home: Path = Path(DEFAULT_HOME)
    local_user: str = Field(default_factory=lambda: _default_user())
    """Not an identity (issue 15): nothing decides who acts by it; people act by their verified
    credentials file and operators are recorded by their OS account. Kept so that existing
    configuration files (and ``GENOMLAB_LOCAL_USER``) still load."""
    spark: SparkConfig = SparkConfig()
    disclosure: DisclosureConfig = DisclosureConfig()
    review: ReviewConfig = ReviewConfig()
    services: ServicesConfig = ServicesConfig()
    stores: StoresConfig | None = None
    grz_s3: dict[str, GrzS3Config] = Field(default_factory=dict)
    """Per GRZ id its own S3 (:class:`GrzS3Config`); a GRZ not listed gets a local moto
    server per run of the official intake."""

    @field_validator("grz_s3")
    @classmethod
    def _grz_ids(cls, value: dict[str, GrzS3Config]) -> dict[str, GrzS3Config]:
        for grz_id in value:
            if not _NODE_ID_PATTERNS["grz"].match(grz_id):
                raise ValueError(f"GRZ id {grz_id!r} does not match the genomDE format "
                                 "(GRZ + 3 letters or digits + 3 digits)")
        return value

    def store_url(self, kind: InstitutionKind, node_id: str | None = None) -> str:
        """The SQLAlchemy URL of one institution's store.

        Nodes that are not listed under ``[stores.grz]`` / ``[stores.kdk]`` get a SQLite file in
        their own folder under the home, so a new node needs no configuration in the default set-up.
        """
        if kind in ("grz", "kdk"):
            if node_id is None or not _NODE_ID_PATTERNS[kind].match(node_id):
                raise ConfigError(f"{kind} node id {node_id!r} does not match the genomDE format")
            listed = getattr(self.stores, kind, {}) if self.stores else {}
            template = (self.stores.node_template if self.stores else None) or (
                "sqlite:///{home}/{kind}/{node_id}/{kind}.db")
            url = listed.get(node_id) or template.replace("{kind}", kind).replace(
                "{node_id}", node_id)
        else:
            listed_url = getattr(self.stores, kind) if self.stores is not None else None
            url = listed_url or f"sqlite:///{{home}}/{kind}/{kind}.db"
        return url.replace("{home}", str(self.home)).replace("{home_id}", self.home_id)

    @property
    def home_id(self) -> str:
        """12 hex digits naming this home in shared stores (the ``{home_id}`` of store URLs)."""
        return hashlib.sha256(str(self.home).encode()).hexdigest()[:12]

    def institution_dir(self, kind: InstitutionKind, node_id: str | None = None) -> Path:
        """The folder that holds one institution instance's files and keys."""
        if kind in ("grz", "kdk"):
            if node_id is None:
                raise ConfigError(f"{kind} needs a node id")
            return self.home / kind / node_id
        return self.home / kind

    def workspace_dir(self, project: str) -> Path:
        return self.home / "workspaces" / project

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "researcher"


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Nested dict of ``GENOMLAB_*`` overrides and, for error messages, which variable set what."""
    tree: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in (CONFIG_ENV, CREDENTIALS_ENV):
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if path[0] == "stores" and len(path) == 3:
            path = (path[0], path[1], path[2].upper())  # node ids are upper case
        elif path[0] == "grz_s3" and len(path) >= 2:
            path = (path[0], path[1].upper(), *path[2:])
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another GENOMLAB_ variable")
        node[path[-1]] = value
        origin[path] = name
    return tree, origin


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing required key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if "input" in error and not isinstance(error["input"], dict):
        message += f" (got {error['input']!r})"
    return message


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> GenomlabConfig:
    """Read, merge and validate the configuration.

    Parameters
    ----------
    path:
        A ``genomlab.toml``; ``None`` looks at ``$GENOMLAB_CONFIG`` and ``./genomlab.toml``.
    environ:
        The environment to read overrides from (``os.environ`` by default).

    Raises
    ------
    ConfigError
        One line naming the file or variable and the key at fault.

    Examples
    --------
    >>> cfg = load_config(environ={"GENOMLAB_DISCLOSURE__MIN_CELL_COUNT": "20"})
    >>> cfg.disclosure.min_cell_count
    20
    """
    environ = os.environ if environ is None else environ
    file: Path | None = None
    if path is not None:
        file = Path(path)
    elif environ.get(CONFIG_ENV):
        file = Path(environ[CONFIG_ENV])
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        file = Path(DEFAULT_CONFIG_FILE)

    data: dict[str, Any] = {}
    source = "defaults"
    if file is not None:
        source = str(file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{file}: configuration file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc

    overrides, origin = _env_overrides(environ)
    merged = _merge(data, overrides)
    try:
        config = GenomlabConfig.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(str(part) for part in error["loc"])
        where = origin.get(tuple(p.lower() for p in loc)) or origin.get(loc) or source
        raise ConfigError(f"{where}: {'.'.join(loc)}: {_describe(error)}") from None

    home = config.home.expanduser()
    if not home.is_absolute():
        anchor = file.resolve().parent if file is not None and "home" in data else Path.cwd()
        home = (anchor / home).resolve()
    return config.model_copy(update={"home": home})
