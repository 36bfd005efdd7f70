"""Release requests: automatic checks, two independent reviews, release with checksums.

States (after OpenSAFELY Airlock): ``submitted`` → ``partially_reviewed`` (a first decision) →
``approved`` (every file approved by two checkers) → ``released``; ``rejected`` when a file's
decisions include a rejection; ``changes_requested`` when none rejects but a checker asked for
changes (the author changes the outputs and submits a new request); ``withdrawn`` by the author
before the last decision.

Checkers decide per file (:func:`record_file_review`); every file needs two decisions by two
different checkers, and the request is decided once every file has them. A checker who has
decided every file of a request has reviewed it (``airlock.review.recorded``, the summary);
:func:`record_review` decides all of a checker's open files at once (the CLI).

- A team member with an active entitlement asks to release files from
  ``<workspace>/outputs/``. The files (and a figure's data beside it) are copied into the
  request's snapshot ``<home>/airlock/requests/<id>/`` and hashed: reviewers see, and the release
  copies, exactly what was checked. Every file gets the disclosure checks
  (:mod:`genomlab.airlock.files`); the request's tables are compared with each other and with
  everything the project released before (:mod:`genomlab.airlock.differencing`). A request with a
  failing check needs the author's justification (ACRO's exception).
- Two different output checkers review, never the author and never a member of the project team;
  each decision needs a reason. Decisions are serialised by the ledger transaction: two reviewers
  deciding at once both count, a third gets :class:`ConflictError`.
- On approval the snapshot files are copied to ``<home>/airlock/released/<project>/<id>/``, their
  sha256 re-checked and recorded in the airlock ledger and, through the directory, in the
  project's register entry.

Everything is an event in the airlock ledger (``<home>/airlock/airlock.db``); the tables of
:class:`AirlockProjection` are current state.

Examples
--------
Alice, on the team of the demo application, asks to release a table; two output checkers
approve it:

>>> import tempfile
>>> from genomlab.airlock.directory import PlatformDirectory
>>> from genomlab.config import load_config
>>> from genomlab.platform.applications.demo import run_applications_demo
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> project = run_applications_demo(config).project_id
>>> outputs = get_outputs_dir(config, project)
>>> outputs.mkdir(parents=True)
>>> _ = (outputs / "by_sex.csv").write_text("sex,n_persons\\nfemale,12\\nmale,15\\n")
>>> directory = PlatformDirectory(config)
>>> request_id = submit_request(config, directory, "alice", project, ["by_sex.csv"])
>>> request_id
'AR-000001'
>>> record_review(config, directory, "hanna", request_id, "approve", "counts ≥ 10")
'partially_reviewed'
>>> record_review(config, directory, "otto", request_id, "approve", "no identifiers")
'released'
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from genomlab.airlock.checks import CheckResult, overall_status
from genomlab.airlock.differencing import check_differencing
from genomlab.airlock.directory import AirlockDirectory
from genomlab.airlock.events import AIRLOCK_EVENTS, Decision
from genomlab.airlock.files import (
    FIGURE_SUFFIXES,
    TABLE_SUFFIXES,
    FileCheck,
    check_output_file,
    find_figure_data,
    read_output_table,
    sha256_file,
)
from genomlab.config import GenomlabConfig
from genomlab.crashpoints import crashpoint
from genomlab.db import read_connection
from genomlab.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from genomlab.events import LedgerSpec
from genomlab.home import get_home_relative, resolve_in_home
from genomlab.institution import Institution
from genomlab.ledger import DispatchProjection, Event, EventHandler, Ledger
from genomlab.leftovers import make_owned_dir

REQUIRED_REVIEWS = 2
OPEN_STATES = ("submitted", "partially_reviewed")


class AirlockProjection(DispatchProjection):
    """Current state: requests, their files with check results, and reviews."""

    metadata = MetaData()
    requests = Table(
        "airlock_requests", metadata,
        Column("request_id", String(32), primary_key=True),
        Column("project", String(64), nullable=False, index=True),
        Column("author", String(200), nullable=False),
        Column("status", String(24), nullable=False, index=True),
        Column("check_status", String(8), nullable=False),
        Column("justification", Text, nullable=False),
        Column("differencing", Text, nullable=False),
        Column("submitted_at", String(32), nullable=False),
        Column("decided_at", String(32), nullable=True),
        Column("released_at", String(32), nullable=True),
        Column("register_entry", String(64), nullable=True),
    )
    files = Table(
        "airlock_files", metadata,
        Column("request_id", String(32), primary_key=True),
        Column("name", String(400), primary_key=True),
        Column("sha256", String(64), nullable=False),
        Column("size", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("check_status", String(8), nullable=False),
        Column("results", Text, nullable=False),
        Column("released_path", Text, nullable=True),
    )
    reviews = Table(
        "airlock_reviews", metadata,
        Column("request_id", String(32), primary_key=True),
        Column("reviewer", String(200), primary_key=True),
        Column("decision", String(8), nullable=False),
        Column("reason", Text, nullable=False),
        Column("recorded_at", String(32), nullable=False),
    )

    file_reviews = Table(
        "airlock_file_reviews", metadata,
        Column("request_id", String(32), primary_key=True),
        Column("name", String(400), primary_key=True),
        Column("reviewer", String(200), primary_key=True),
        Column("decision", String(16), nullable=False),
        Column("reason", Text, nullable=False),
        Column("recorded_at", String(32), nullable=False),
    )

    def __init__(self) -> None:
        self.handlers: dict[str, EventHandler] = {
            "airlock.request.submitted": self._submitted,
            "airlock.review.recorded": self._reviewed,
            "airlock.file.reviewed": self._file_reviewed,
            "airlock.request.approved": self._decided,
            "airlock.request.rejected": self._decided,
            "airlock.request.changes_requested": self._decided,
            "airlock.request.withdrawn": self._decided,
            "airlock.request.released": self._released,
        }

    def _submitted(self, conn: Connection, event: Event) -> None:
        p = event.payload
        conn.execute(insert(self.requests).values(
            request_id=p["request_id"], project=p["project"], author=event.actor,
            status="submitted", check_status=p["check_status"],
            justification=p["justification"], differencing=json.dumps(p["differencing"]),
            submitted_at=event.recorded_at))
        for f in p["files"]:
            conn.execute(insert(self.files).values(
                request_id=p["request_id"], name=f["name"], sha256=f["sha256"],
                size=f["size"], kind=f["kind"], check_status=f["status"],
                results=json.dumps(f["results"])))

    def _reviewed(self, conn: Connection, event: Event) -> None:
        p = event.payload
        conn.execute(insert(self.reviews).values(
            request_id=p["request_id"], reviewer=event.actor, decision=p["decision"],
            reason=p["reason"], recorded_at=event.recorded_at))
        self._set(conn, event, status="partially_reviewed")

    def _file_reviewed(self, conn: Connection, event: Event) -> None:
        p = event.payload
        conn.execute(insert(self.file_reviews).values(
            request_id=p["request_id"], name=p["name"], reviewer=event.actor,
            decision=p["decision"], reason=p["reason"], recorded_at=event.recorded_at))
        self._set(conn, event, status="partially_reviewed")

    def _decided(self, conn: Connection, event: Event) -> None:
        """Approved, rejected or withdrawn: the status is the event type's last part."""
        self._set(conn, event, status=event.type.rsplit(".", 1)[1],
                  decided_at=event.recorded_at)

    def _released(self, conn: Connection, event: Event) -> None:
        p = event.payload
        self._set(conn, event, status="released", released_at=event.recorded_at,
                  register_entry=p["register_entry"])
        for f in p["files"]:
            conn.execute(update(self.files).where(
                self.files.c.request_id == p["request_id"], self.files.c.name == f["name"])
                .values(released_path=f["released_path"]))

    def _set(self, conn: Connection, event: Event, **values: Any) -> None:
        conn.execute(update(self.requests)
                     .where(self.requests.c.request_id == event.payload["request_id"])
                     .values(**values))


PROJECTION = AirlockProjection()

AIRLOCK_LEDGER = LedgerSpec.of(AIRLOCK_EVENTS, [PROJECTION])
"""The airlock's events and projections."""


def airlock_dir(config: GenomlabConfig) -> Path:
    return config.home / "airlock"


def open_airlock_ledger(config: GenomlabConfig, **kwargs: Any) -> Ledger:
    """The airlock ledger under ``<home>/airlock/`` with its projection."""
    return Institution(config, "airlock").ledger(AIRLOCK_LEDGER, **kwargs)


def _read_airlock(config: GenomlabConfig) -> Any:
    """A read-only connection to the airlock's store (projection tables created on first use),
    without the airlock's signing key: what an output checker's server behind the hub may do
    (its decisions go to the airlock service)."""
    engine = Institution(config, "airlock").engine()
    PROJECTION.metadata.create_all(engine)
    return read_connection(engine)


def get_outputs_dir(config: GenomlabConfig, project: str) -> Path:
    """The folder a project's researchers put outputs in for release."""
    return config.workspace_dir(project) / "outputs"


def get_snapshot_file(config: GenomlabConfig, request_id: str, name: str) -> Path:
    """The checked copy of a request's file: what reviewers see and the release copies."""
    return airlock_dir(config) / "requests" / request_id / name


def get_released_dir(config: GenomlabConfig, project: str) -> Path:
    """Where approved outputs of a project end up, outside the workspace."""
    return airlock_dir(config) / "released" / project


def _confine(outputs: Path, name: str, path: Path) -> Path:
    """``path`` resolved (symlinks followed), if it stays under ``outputs``; else refuse."""
    resolved = path.resolve()
    if not resolved.is_relative_to(outputs.resolve()):
        raise PermissionDenied(f"{name}: outside {outputs}; only files under it can be checked "
                               "or released")
    return resolved


def resolve_output(outputs: Path, name: str) -> Path:
    """The output file ``name`` under ``outputs`` (resolved), before anything of it is read.

    Refuses ``..``, absolute paths elsewhere and symlinks leaving ``outputs`` -- also for the
    data file beside a figure, which is read with it.

    Raises
    ------
    PermissionDenied
        The file, or its figure's data file, resolves outside ``outputs``.
    NotFoundError
        There is no such file.
    """
    path = _confine(outputs, name, outputs / name)
    if not path.is_file():
        raise NotFoundError(f"{outputs / name}: no such output file")
    data = find_figure_data(path) if path.suffix.lower() in FIGURE_SUFFIXES else None
    if data is not None:
        _confine(outputs, f"{name} (its data {data.name})", data)
    return path


def get_released_tables(config: GenomlabConfig, project: str) -> dict[str, Any]:
    """Every table the project released before, by ``<request>/<name>``, for differencing."""
    files, reqs = PROJECTION.files, PROJECTION.requests
    query = (select(files.c.request_id, files.c.name, files.c.released_path)
             .join(reqs, reqs.c.request_id == files.c.request_id)
             .where(reqs.c.project == project, files.c.released_path.is_not(None)))
    with _read_airlock(config) as conn:
        rows = conn.execute(query).all()
    return {f"{r.request_id}/{r.name}": read_output_table(resolve_in_home(config.home,
                                                                          r.released_path))
            for r in rows if Path(r.released_path).suffix in TABLE_SUFFIXES}


def _snapshot(outputs: Path, names: Sequence[str], target: Path) -> list[str]:
    """Copy the files (and each figure's data file) into ``target``; the names copied."""
    copied: list[str] = []
    for name in names:
        source = resolve_output(outputs, name)
        extra = [find_figure_data(source)] if source.suffix.lower() in FIGURE_SUFFIXES else []
        for path in [source, *[p.resolve() for p in extra if p is not None]]:
            relative = str(path.relative_to(outputs.resolve()))
            if relative in copied:
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
            copied.append(relative)
    return copied


@dataclass(frozen=True)
class RequestChecks:
    """The automatic checks of a prospective request: per file and differencing."""

    files: list[FileCheck]
    differencing: CheckResult

    @property
    def status(self) -> str:
        return overall_status([*(r for f in self.files for r in f.results), self.differencing])


def check_files(config: GenomlabConfig, project: str, folder: Path,
                names: Sequence[str]) -> RequestChecks:
    """Run every automatic check on files in ``folder`` (a snapshot or the outputs folder);
    a name resolving outside ``folder`` is refused (:func:`resolve_output`) before any read.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "by_sex.csv").write_text("sex,n_persons\\nfemale,12\\nmale,15\\n")
    >>> _ = (folder / "small.csv").write_text("sex,n_persons\\nfemale,3\\nmale,24\\n")
    >>> check_files(config, "GDE-2026-0001", folder, ["by_sex.csv"]).status
    'pass'
    >>> checks = check_files(config, "GDE-2026-0001", folder, ["small.csv"])
    >>> checks.status, [(r.check, r.status) for r in checks.files[0].results][0]
    ('fail', ('group_sizes', 'fail'))
    """
    paths = {n: resolve_output(folder, n) for n in names}
    file_checks = [check_output_file(paths[n], config.disclosure, name=n) for n in names]
    tables = {n: read_output_table(paths[n]) for n in names if Path(n).suffix in TABLE_SUFFIXES}
    differencing = check_differencing(tables, get_released_tables(config, project),
                                      threshold=config.disclosure.min_cell_count)
    return RequestChecks(file_checks, differencing)


def submit_request(
    config: GenomlabConfig,
    directory: AirlockDirectory,
    author: str,
    project: str,
    names: Sequence[str],
    *,
    justification: str = "",
) -> str:
    """Ask to release output files; returns the request id.

    Raises
    ------
    PermissionDenied
        ``author`` is not on the project's team with an active entitlement.
    ValidationFailed
        No files, or a check fails and no justification was given.

    Examples
    --------
    The module example shows a request that is released. Without an approved project:

    >>> import tempfile
    >>> from genomlab.airlock.directory import PlatformDirectory
    >>> from genomlab.config import load_config
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> submit_request(config, PlatformDirectory(config), "alice", "GDE-2026-0001",
    ...                ["by_sex.csv"])
    Traceback (most recent call last):
    ...
    genomlab.errors.PermissionDenied: release request: alice is not an entitled member of GDE-...
    """
    if not names:
        raise ValidationFailed(f"release request for {project}: no files named")
    if not directory.is_team_member(author, project):
        raise PermissionDenied(f"release request: {author} is not an entitled member of {project}")
    outputs = get_outputs_dir(config, project)
    staging = make_owned_dir(airlock_dir(config) / "requests", ".staging")
    try:
        copied = _snapshot(outputs, names, staging)
        crashpoint("airlock.copied")
        checks = check_files(config, project, staging, copied)
        failing = [f.path for f in checks.files if f.status == "fail"]
        if checks.differencing.status == "fail":
            failing.append("differencing with earlier releases")
        if failing and not justification.strip():
            raise ValidationFailed(
                f"release request for {project}: {', '.join(failing)} fail the disclosure "
                "checks; fix the outputs or give a justification")
        files = [{"name": f.path, "sha256": sha256_file(staging / f.path),
                  "size": (staging / f.path).stat().st_size, "kind": f.kind,
                  "status": f.status, "results": [r.to_dict() for r in f.results]}
                 for f in checks.files]
        ledger = open_airlock_ledger(config)
        with ledger.transaction() as tx:
            n = tx.conn.execute(select(func.count()).select_from(PROJECTION.requests)).scalar()
            request_id = f"AR-{int(n or 0) + 1:06d}"
            tx.append("airlock.request.submitted", {
                "request_id": request_id, "project": project, "files": files,
                "differencing": checks.differencing.to_dict(), "check_status": checks.status,
                "criteria": config.disclosure.model_dump(),
                "justification": justification.strip()}, actor=author, stream=request_id)
            snapshot = airlock_dir(config) / "requests" / request_id
            if snapshot.exists():  # a killed run's, whose event never committed: not a request
                shutil.rmtree(snapshot)
            staging.rename(snapshot)
            crashpoint("airlock.renamed")
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return request_id


def _get_request(conn: Connection, request_id: str) -> Any:
    row = conn.execute(select(PROJECTION.requests)
                       .where(PROJECTION.requests.c.request_id == request_id)).first()
    if row is None:
        raise NotFoundError(f"release request {request_id} not found")
    return row


DECISIONS: tuple[Decision, ...] = ("approve", "reject", "changes")


def _check_reviewer(conn: Connection, directory: AirlockDirectory, reviewer: str,
                    request_id: str, reason: str, decision: str) -> Any:
    """The open request ``reviewer`` may decide on, else the one-line refusal."""
    if decision not in DECISIONS:
        raise ValidationFailed(f"{request_id}: decision: expected one of {', '.join(DECISIONS)}, "
                               f"got {decision!r}")
    if not reason.strip():
        raise ValidationFailed(f"{request_id}: reason: a review needs a reason")
    if not directory.is_output_checker(reviewer):
        raise PermissionDenied(f"review {request_id}: {reviewer} is not an output checker")
    request = _get_request(conn, request_id)
    if reviewer == request.author:
        raise PermissionDenied(f"review {request_id}: authors cannot review their own request")
    if directory.is_team_member(reviewer, request.project):
        raise PermissionDenied(f"review {request_id}: {reviewer} is on the team of "
                               f"{request.project} and not independent")
    if request.status not in OPEN_STATES:
        raise ConflictError(f"review {request_id}: the request is {request.status}")
    return request


def _get_file_decisions(conn: Connection, request_id: str) -> dict[str, dict[str, str]]:
    """Every file of a request → {reviewer: decision} (files without decisions included)."""
    names = conn.execute(select(PROJECTION.files.c.name)
                         .where(PROJECTION.files.c.request_id == request_id)).scalars().all()
    decisions: dict[str, dict[str, str]] = {name: {} for name in names}
    reviews = PROJECTION.file_reviews
    for row in conn.execute(select(reviews.c.name, reviews.c.reviewer, reviews.c.decision)
                            .where(reviews.c.request_id == request_id)):
        decisions[row.name][row.reviewer] = row.decision
    return decisions


def summarise_decisions(decisions: Sequence[str]) -> Decision:
    """The decision several file decisions amount to: any ``reject`` rejects, else any
    ``changes`` asks for changes, else ``approve``.

    Examples
    --------
    >>> summarise_decisions(["approve", "changes"]), summarise_decisions(["changes", "reject"])
    ('changes', 'reject')
    """
    for decision in ("reject", "changes"):
        if decision in decisions:
            return decision
    return "approve"


def _decide_files(tx: Any, request: Any, reviewer: str, names: Sequence[str], decision: Decision,
                  reason: str) -> str:
    """Append ``reviewer``'s decision on each of ``names``, then the review and the request's
    decision they complete; returns the request's status."""
    request_id = request.request_id
    decisions = _get_file_decisions(tx.conn, request_id)
    for name in names:
        if name not in decisions:
            raise NotFoundError(f"review {request_id}: no file {name!r} in the request "
                                f"(files: {', '.join(decisions)})")
        if reviewer in decisions[name]:
            raise ConflictError(f"review {request_id}: {reviewer} has already decided on {name}")
        if len(decisions[name]) >= REQUIRED_REVIEWS:
            raise ConflictError(f"review {request_id}: {name} already has its "
                                f"{REQUIRED_REVIEWS} decisions")
        tx.append("airlock.file.reviewed", {"request_id": request_id, "name": name,
                                            "decision": decision, "reason": reason.strip()},
                  actor=reviewer, stream=request_id)
        decisions[name][reviewer] = decision
    mine = [d[reviewer] for d in decisions.values() if reviewer in d]
    if len(mine) == len(decisions):
        tx.append("airlock.review.recorded", {"request_id": request_id,
                                              "decision": summarise_decisions(mine),
                                              "reason": reason.strip()},
                  actor=reviewer, stream=request_id)
    if any(len(d) < REQUIRED_REVIEWS for d in decisions.values()):
        return "partially_reviewed"
    outcome = summarise_decisions([v for d in decisions.values() for v in d.values()])
    status = {"approve": "approved", "reject": "rejected", "changes": "changes_requested"}[outcome]
    tx.append(f"airlock.request.{status}", {"request_id": request_id},
              actor=reviewer, stream=request_id)
    return status


def record_file_review(
    config: GenomlabConfig,
    directory: AirlockDirectory,
    reviewer: str,
    request_id: str,
    name: str,
    decision: Decision,
    reason: str,
) -> str:
    """One output checker's decision on one file, with its reason (the comment to the author
    for ``changes``); returns the request's new status.

    Every file needs two decisions by two different checkers (never the author or the project
    team); the last one decides the request (:func:`summarise_decisions`) and an approval
    releases it (:func:`release_request`).

    Raises
    ------
    PermissionDenied
        Not an output checker, the author, or a member of the project team.
    ConflictError
        This checker already decided on the file, the file has its two decisions, or the
        request is no longer open.
    NotFoundError
        No such request or file.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.airlock.directory import PlatformDirectory
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> project = run_applications_demo(config).project_id
    >>> outputs = get_outputs_dir(config, project)
    >>> outputs.mkdir(parents=True)
    >>> _ = (outputs / "a.csv").write_text("sex,n_persons\\nfemale,12\\nmale,15\\n")
    >>> _ = (outputs / "b.csv").write_text("age,n_persons\\n<50,14\\n>=50,13\\n")
    >>> d = PlatformDirectory(config)
    >>> request_id = submit_request(config, d, "alice", project, ["a.csv", "b.csv"])
    >>> record_file_review(config, d, "hanna", request_id, "a.csv", "approve", "counts ≥ 10")
    'partially_reviewed'
    >>> record_file_review(config, d, "otto", request_id, "a.csv", "approve", "fine")
    'partially_reviewed'
    >>> record_file_review(config, d, "hanna", request_id, "b.csv", "approve", "fine")
    'partially_reviewed'
    >>> record_file_review(config, d, "otto", request_id, "b.csv", "changes", "label the bands")
    'changes_requested'
    """
    ledger = open_airlock_ledger(config)
    with ledger.transaction() as tx:
        request = _check_reviewer(tx.conn, directory, reviewer, request_id, reason, decision)
        status = _decide_files(tx, request, reviewer, [name], decision, reason)
    if status == "approved":
        release_request(config, directory, request_id, actor=reviewer)
        return "released"
    return status


def record_review(
    config: GenomlabConfig,
    directory: AirlockDirectory,
    reviewer: str,
    request_id: str,
    decision: Decision,
    reason: str,
) -> str:
    """One output checker's decision with its reason on every file of the request they have not
    decided yet (:func:`record_file_review` for each, in one transaction); returns the
    request's new status.

    Raises
    ------
    PermissionDenied
        Not an output checker, the author, or a member of the project team.
    ConflictError
        Already reviewed by this person, or the request is no longer open.

    Examples
    --------
    The module example shows two approvals. Someone without the output-checker role:

    >>> import tempfile
    >>> from genomlab.airlock.directory import PlatformDirectory
    >>> from genomlab.config import load_config
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> record_review(config, PlatformDirectory(config), "alice", "AR-000001", "approve",
    ...               "counts ≥ 10, no identifiers")
    Traceback (most recent call last):
    ...
    genomlab.errors.PermissionDenied: review AR-000001: alice is not an output checker
    """
    ledger = open_airlock_ledger(config)
    with ledger.transaction() as tx:
        request = _check_reviewer(tx.conn, directory, reviewer, request_id, reason, decision)
        open_files = [name for name, d in _get_file_decisions(tx.conn, request_id).items()
                      if reviewer not in d]
        if not open_files:
            raise ConflictError(f"review {request_id}: {reviewer} has already reviewed it")
        status = _decide_files(tx, request, reviewer, open_files, decision, reason)
    if status == "approved":
        release_request(config, directory, request_id, actor=reviewer)
        return "released"
    return status


def withdraw_request(config: GenomlabConfig, author: str, request_id: str, reason: str) -> None:
    """The author withdraws an open request."""
    ledger = open_airlock_ledger(config)
    with ledger.transaction() as tx:
        request = _get_request(tx.conn, request_id)
        if author != request.author:
            raise PermissionDenied(f"withdraw {request_id}: only its author {request.author} can")
        if request.status not in OPEN_STATES:
            raise ConflictError(f"withdraw {request_id}: the request is {request.status}")
        tx.append("airlock.request.withdrawn", {"request_id": request_id,
                                                "reason": reason.strip()},
                  actor=author, stream=request_id)


def release_request(config: GenomlabConfig, directory: AirlockDirectory, request_id: str,
                    *, actor: str) -> list[dict[str, str]]:
    """Copy an approved request's snapshot out of the workspace and record the checksums.

    Idempotent: a released request is not copied again.
    """
    ledger = open_airlock_ledger(config)
    with read_connection(ledger.engine) as conn:
        request = _get_request(conn, request_id)
        files = conn.execute(select(PROJECTION.files)
                             .where(PROJECTION.files.c.request_id == request_id)).all()
    if request.status == "released":
        return []
    if request.status != "approved":
        raise ConflictError(f"release {request_id}: the request is {request.status}")
    target = get_released_dir(config, request.project) / request_id
    released = []
    for f in files:
        destination = target / f.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(f".{destination.name}.tmp")
        shutil.copy2(get_snapshot_file(config, request_id, f.name), tmp)
        digest = sha256_file(tmp)
        if digest != f.sha256:
            tmp.unlink()
            raise ConflictError(f"release {request_id}: {f.name} changed since it was checked "
                                f"(sha256 {digest} != {f.sha256})")
        tmp.replace(destination)
        crashpoint("airlock.copied_out")
        released.append({"name": f.name, "sha256": digest,  # relative: the home can move
                         "released_path": get_home_relative(config.home, destination)})
    reference = f"airlock:{request_id} " + " ".join(
        f"{r['name']}#sha256={r['sha256']}" for r in released)
    entry = directory.record_release(request.project, request.author,
                                     f"Outputs released through the airlock ({request_id})",
                                     reference)
    crashpoint("airlock.registered")
    with ledger.transaction() as tx:
        if _get_request(tx.conn, request_id).status == "released":
            return released
        tx.append("airlock.request.released", {"request_id": request_id, "files": released,
                                               "register_entry": entry},
                  actor=actor, stream=request_id)
    return released


def get_known_projects(config: GenomlabConfig) -> list[str]:
    """Projects the airlock knows: a workspace under the home, or any request ever made.

    Reads only: a home without an airlock store gets none.
    """
    workspaces = config.home / "workspaces"
    known = {p.name for p in workspaces.iterdir() if p.is_dir()} if workspaces.is_dir() else set()
    if Institution(config, "airlock").directory.is_dir():
        with _read_airlock(config) as conn:
            known |= set(conn.execute(select(PROJECTION.requests.c.project).distinct())
                         .scalars())
    return sorted(known)


def get_queue(config: GenomlabConfig, *, statuses: Sequence[str] | None = None,
              project: str | None = None) -> list[dict[str, Any]]:
    """Requests, oldest first, with their review count (for the dashboard and the CLI).

    A ``project`` the airlock does not know (:func:`get_known_projects`) is refused, naming
    the known ones.
    """
    if project is not None and project not in (known := get_known_projects(config)):
        raise NotFoundError(f"unknown project {project!r} (known: {', '.join(known) or 'none'})")
    req, reviews = PROJECTION.requests, PROJECTION.reviews
    n_reviews = (select(func.count()).where(reviews.c.request_id == req.c.request_id)
                 .scalar_subquery())
    query = select(req, n_reviews.label("n_reviews")).order_by(req.c.submitted_at)
    if statuses:
        query = query.where(req.c.status.in_(list(statuses)))
    if project:
        query = query.where(req.c.project == project)
    with _read_airlock(config) as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


@dataclass(frozen=True)
class RequestDetail:
    """A request with its files (check results decoded) and reviews."""

    request: dict[str, Any]
    files: list[dict[str, Any]]
    """Each with ``results`` (check results) and ``decisions`` (``reviewer``, ``decision``,
    ``reason``, ``recorded_at``; oldest first)."""
    reviews: list[dict[str, Any]]
    differencing: CheckResult


def request_detail_to_json(detail: RequestDetail) -> dict[str, Any]:
    """A request's detail as JSON (what the airlock service answers): check results as
    :meth:`CheckResult.to_dict` records."""
    return {
        "request": detail.request,
        "files": [{k: v for k, v in f.items() if k != "results"}
                  | {"results": [r.to_dict() for r in f["results"]]} for f in detail.files],
        "reviews": detail.reviews,
        "differencing": detail.differencing.to_dict(),
    }


def request_detail_from_json(data: dict[str, Any]) -> RequestDetail:
    """The :class:`RequestDetail` of :func:`request_detail_to_json`'s answer."""
    files = [{**f, "results": [CheckResult.from_dict(r) for r in f["results"]]}
             for f in data["files"]]
    return RequestDetail(dict(data["request"]), files, list(data["reviews"]),
                         CheckResult.from_dict(data["differencing"]))


def get_request_detail(config: GenomlabConfig, request_id: str) -> RequestDetail:
    """Everything a reviewer needs to decide on one request."""
    with _read_airlock(config) as conn:
        request = dict(_get_request(conn, request_id)._mapping)
        files = [dict(r._mapping) for r in conn.execute(
            select(PROJECTION.files).where(PROJECTION.files.c.request_id == request_id)
            .order_by(PROJECTION.files.c.name))]
        reviews = [dict(r._mapping) for r in conn.execute(
            select(PROJECTION.reviews).where(PROJECTION.reviews.c.request_id == request_id)
            .order_by(PROJECTION.reviews.c.recorded_at))]
        decisions = [dict(r._mapping) for r in conn.execute(
            select(PROJECTION.file_reviews)
            .where(PROJECTION.file_reviews.c.request_id == request_id)
            .order_by(PROJECTION.file_reviews.c.recorded_at))]
    for f in files:
        f["results"] = [CheckResult.from_dict(r) for r in json.loads(f["results"])]
        f["decisions"] = [d for d in decisions if d["name"] == f["name"]]
    differencing = CheckResult.from_dict(json.loads(request["differencing"]))
    return RequestDetail(request, files, reviews, differencing)
