"""The data service's ledger events and projection tables.

Every step is an event in the data service's own ledger (``Institution(config, "data_service")``);
the tables below are what the events imply (``projection_matches`` proves it in the tests).

Event types (payload fields; the models are in :mod:`genomlab.data_service.events`):

- ``feasibility.index_built`` (build_id, nodes, n_genome_datasets, n_clinical_datasets, n_sites,
  digest)
- ``feasibility.answered`` (query_id, user, side, filters, variant, granularity, total, suppressed)
  — ``total`` is the true count, kept so later queries can be audited against it
- ``release.started`` (release_id, application_id, project_id)
- ``release.linked`` (release_id, map_id, map_digest, n_genome_candidates,
  n_clinical_candidates, n_linked, n_excluded_no_consent, n_cohort) — the verified linkage map
- ``release.refused`` (application_id, reason)
- ``release.completed`` (release_id, application_id, project_id, level, n_persons, persons,
  manifest_sha256, content_digest)
- ``release.withdrawal_notified`` (project_id, release_id, project_pseudonyms, notice)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, insert, select

from genomlab.config import GenomlabConfig
from genomlab.data_service.events import DATA_SERVICE_EVENTS
from genomlab.events import LedgerSpec
from genomlab.institution import Institution
from genomlab.ledger import DispatchProjection, Event, EventHandler, Ledger

metadata = MetaData()

index_builds = Table(
    "ds_index_builds", metadata,
    Column("build_id", String(32), primary_key=True),
    Column("built_at", String(40), nullable=False),
    Column("nodes", Text, nullable=False),
    Column("n_genome_datasets", Integer, nullable=False),
    Column("n_clinical_datasets", Integer, nullable=False),
    Column("n_sites", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
)
queries = Table(
    "ds_feasibility_queries", metadata,
    Column("query_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("user_id", String(200), nullable=False),
    Column("side", String(16), nullable=False),
    Column("filters", Text, nullable=False),
    Column("variant", String(400)),
    Column("granularity", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("suppressed", Integer, nullable=False),
    Column("answered_at", String(40), nullable=False),
)
releases = Table(
    "ds_releases", metadata,
    Column("release_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("application_id", String(64), nullable=False, index=True),
    Column("project_id", String(64), nullable=False, index=True),
    Column("level", String(16), nullable=False),
    Column("n_persons", Integer, nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("content_digest", String(64), nullable=False),
    Column("released_at", String(40), nullable=False),
)
release_persons = Table(
    "ds_release_persons", metadata,
    Column("release_id", String(32), primary_key=True),
    Column("project_pseudonym", String(80), primary_key=True),
)
refusals = Table(
    "ds_release_refusals", metadata,
    Column("seq", Integer, primary_key=True),
    Column("application_id", String(64), nullable=False, index=True),
    Column("reason", Text, nullable=False),
)
notices = Table(
    "ds_withdrawal_notices", metadata,
    Column("seq", Integer, primary_key=True),
    Column("project_id", String(64), nullable=False, index=True),
    Column("release_id", String(32), nullable=False),
    Column("n_persons", Integer, nullable=False),
    Column("notice", Text, nullable=False),
)


def _index_built(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(index_builds).values(
        build_id=p["build_id"], built_at=ev.recorded_at, nodes=json.dumps(p["nodes"]),
        n_genome_datasets=p["n_genome_datasets"], n_clinical_datasets=p["n_clinical_datasets"],
        n_sites=p["n_sites"], digest=p["digest"]))


def _answered(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(queries).values(
        query_id=p["query_id"], seq=ev.seq, user_id=p["user"], side=p["side"],
        filters=json.dumps(p["filters"], sort_keys=True), variant=p["variant"],
        granularity=p["granularity"], total=p["total"], suppressed=int(p["suppressed"]),
        answered_at=ev.recorded_at))


def _completed(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(releases).values(
        release_id=p["release_id"], seq=ev.seq, application_id=p["application_id"],
        project_id=p["project_id"], level=p["level"], n_persons=p["n_persons"],
        manifest_sha256=p["manifest_sha256"], content_digest=p["content_digest"],
        released_at=ev.recorded_at))
    if p["persons"]:
        conn.execute(insert(release_persons), [
            {"release_id": p["release_id"], "project_pseudonym": name} for name in p["persons"]])


def _refused(conn: Connection, ev: Event) -> None:
    conn.execute(insert(refusals).values(seq=ev.seq, application_id=ev.payload["application_id"],
                                         reason=ev.payload["reason"]))


def _notified(conn: Connection, ev: Event) -> None:
    p = ev.payload
    conn.execute(insert(notices).values(seq=ev.seq, project_id=p["project_id"],
                                        release_id=p["release_id"],
                                        n_persons=len(p["project_pseudonyms"]),
                                        notice=p["notice"]))


HANDLERS: dict[str, EventHandler] = {
    "feasibility.index_built": _index_built,
    "feasibility.answered": _answered,
    "release.completed": _completed,
    "release.refused": _refused,
    "release.withdrawal_notified": _notified,
}


class DataServiceProjection(DispatchProjection):
    """Projection of the data service's ledger into the ``ds_*`` tables."""

    metadata = metadata
    handlers = HANDLERS


DATA_SERVICE_LEDGER = LedgerSpec.of(DATA_SERVICE_EVENTS, [DataServiceProjection()])
"""The data service's events and projections."""


def open_data_service_ledger(config: GenomlabConfig) -> Ledger:
    """The data service's ledger with its projection.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> home = tempfile.mkdtemp()
    >>> ledger = open_data_service_ledger(load_config(environ={"GENOMLAB_HOME": home}))
    >>> ledger.verify().ok
    True
    """
    return Institution(config, "data_service").ledger(DATA_SERVICE_LEDGER)


def get_released_persons(conn: Connection, project_id: str) -> list[str]:
    """The project pseudonyms in the project's latest release (empty if none)."""
    latest = conn.execute(select(releases.c.release_id).where(releases.c.project_id == project_id)
                          .order_by(releases.c.seq.desc()).limit(1)).scalar()
    if latest is None:
        return []
    return list(conn.execute(select(release_persons.c.project_pseudonym)
                             .where(release_persons.c.release_id == latest)
                             .order_by(release_persons.c.project_pseudonym)).scalars())


def get_answered_queries(conn: Connection, side: str, user: str) -> Sequence[Any]:
    """``user``'s earlier count answers on one side (``genomic``/``clinical``/``variant``),
    oldest first (the differencing audit compares a requester only with their own history)."""
    return conn.execute(select(queries).where(queries.c.side == side,
                                              queries.c.user_id == user,
                                              queries.c.granularity == "count")
                        .order_by(queries.c.seq)).all()


def is_answered(conn: Connection, query_id: str, user: str) -> bool:
    """Whether ``user``'s query ``query_id`` is already answered (recorded)."""
    return conn.execute(select(queries.c.seq).where(
        queries.c.query_id == query_id, queries.c.user_id == user)).first() is not None


def get_answer_times(conn: Connection, user: str, since: str) -> list[str]:
    """When ``user``'s queries answered at or after ``since`` (ISO time, UTC) were answered,
    oldest first (any granularity: what the query budget counts)."""
    return list(conn.execute(select(queries.c.answered_at).where(
        queries.c.user_id == user, queries.c.answered_at >= since).order_by(queries.c.seq)
    ).scalars())
