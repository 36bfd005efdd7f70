"""One institution instance: its folder, store, keys and ledger, as configured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from genomlab.config import GenomlabConfig, InstitutionKind, NodeKind
from genomlab.db import get_engine
from genomlab.errors import NotFoundError, ValidationFailed
from genomlab.events import LedgerSpec
from genomlab.home import ensure_home
from genomlab.keys import FileKeyProvider
from genomlab.ledger import Ledger

SINGLETON_KINDS: tuple[InstitutionKind, ...] = (
    "platform", "trust_center", "data_service", "airlock", "reports")
"""Kinds with one instance per home. The airlock and the report runner are no institutions of
§ 64e, but they keep signed ledgers and stores the same way, so they are handled alike."""
NODE_KINDS: tuple[NodeKind, ...] = ("grz", "kdk")
"""Kinds with one instance per node id (``grz:<GRZ id>``, ``kdk:<KDK id>``)."""


@dataclass(frozen=True)
class Institution:
    """Where one institution instance keeps its state.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> grz = Institution(load_config(environ={}), "grz", "GRZK00001")
    >>> grz.name
    'grz:GRZK00001'
    """

    config: GenomlabConfig
    kind: InstitutionKind
    node_id: str | None = None

    @property
    def name(self) -> str:
        return self.kind if self.node_id is None else f"{self.kind}:{self.node_id}"

    @property
    def directory(self) -> Path:
        return self.config.institution_dir(self.kind, self.node_id)

    @property
    def store_url(self) -> str:
        return self.config.store_url(self.kind, self.node_id)

    def engine(self) -> Engine:
        ensure_home(self.config.home)
        self.directory.mkdir(parents=True, exist_ok=True)
        return get_engine(self.store_url)

    def keys(self) -> FileKeyProvider:
        return FileKeyProvider(self.directory / "keys")

    def ledger(self, spec: LedgerSpec | None = None, **kwargs: Any) -> Ledger:
        """This institution's ledger: writable with its kind's ``spec``, else read-only.

        Each institution has one opener that passes its spec (``open_<institution>_ledger``);
        a spec of another institution kind is refused.
        """
        if spec is not None and spec.kind != self.kind:
            raise ValueError(f"{self.name}: ledger spec of {spec.kind} does not fit")
        self.engine()
        return Ledger.open(self.store_url, self.keys(), self.name, spec, **kwargs)


def parse_institution(config: GenomlabConfig, name: str) -> Institution:
    """``platform``, ``trust_center``, ``data_service``, ``grz:GRZK00001`` or ``kdk:KDKTUE005``."""
    kind, _, node_id = name.partition(":")
    if kind in SINGLETON_KINDS and not node_id:
        return Institution(config, kind)
    if kind in NODE_KINDS and node_id:
        config.store_url(kind, node_id)  # validates the id format
        return Institution(config, kind, node_id)
    raise ValidationFailed(
        f"unknown institution {name!r}: expected {', '.join(SINGLETON_KINDS)}, "
        "grz:<GRZ id> or kdk:<KDK id>"
    )


def get_existing_institution(institution: Institution) -> Institution:
    """``institution`` if it has a folder under the home; otherwise refuse, naming the known ones.

    Commands that only read call this before anything opens a store, so a mistyped id creates
    no folder, store or signing key.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> Institution(config, "grz", "GRZK00001").directory.mkdir(parents=True)
    >>> get_existing_institution(Institution(config, "grz", "GRZK99999"))
    Traceback (most recent call last):
    ...
    genomlab.errors.NotFoundError: unknown grz:GRZK99999 (known: grz:GRZK00001)
    """
    if institution.directory.is_dir():
        return institution
    known = [i.name for i in existing_institutions(institution.config)
             if i.kind == institution.kind]
    raise NotFoundError(f"unknown {institution.name} "
                        f"(known: {', '.join(known) if known else 'none under this home'})")


def existing_institutions(config: GenomlabConfig) -> list[Institution]:
    """Every institution instance that has a folder under the home."""
    found = [Institution(config, kind) for kind in SINGLETON_KINDS
             if config.institution_dir(kind).is_dir()]
    for kind in ("grz", "kdk"):
        base = config.home / kind
        if base.is_dir():
            found += [Institution(config, kind, p.name) for p in sorted(base.iterdir())
                      if p.is_dir()]
    return found
