"""The intake state machine that a genome data centre (GRZ) and a clinical data node (KDK) share.

A GRZ takes in submissions (keyed by inbox folder), a KDK clinical records (keyed by a keyed
hash of the tanC); both are *items* here. Every item moves through the same states, each
entered by one ledger event ``<noun>.<state>`` on the item's stream ``<noun>:<key>``::

    received → validated → pseudonymised → stored → reported → [qc_selected] → finished
         ╰──────────┴──────────────┴───────────┴──→ error

Only a GRZ samples reported submissions for detailed QC (``qc_selected``, BfArM's rule); a KDK
finishes a record as soon as it is reported. :data:`TRANSITIONS` is the whole machine;
:meth:`NodeIntake.advance` refuses any other move.

Rerunning intake after a crash resumes every item: a step acts only on items in the state it
starts from (:func:`is_due`), so no event is recorded twice and nothing is lost. An item that
failed stays failed (a corrected file is a new submission), and an item already reported needs
its file no more. A failed item holds no TAN (:meth:`NodeIntake.find_tan_owner`): the corrected
item may bring the same TAN again, while an item that did not fail keeps it.

This module is neutral: :mod:`genomlab.genome_center` and :mod:`genomlab.clinical_node` both
build on it and still never import each other.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import Connection, Row, Table, select

from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.errors import ConflictError
from genomlab.events import LedgerSpec, SubmittedCaseFields
from genomlab.institution import Institution
from genomlab.ledger import Ledger, LedgerTransaction
from genomlab.messages import PseudonymService
from genomlab.node_approval import NodeStatusSource, check_node_approved, get_platform_node_status

IntakeState = Literal["received", "validated", "pseudonymised", "stored", "reported",
                      "qc_selected", "finished", "error"]
INTAKE_STATES: tuple[IntakeState, ...] = get_args(IntakeState)

TRANSITIONS: Mapping[IntakeState | None, frozenset[IntakeState]] = MappingProxyType({
    None: frozenset({"received"}),
    "received": frozenset({"validated", "error"}),
    "validated": frozenset({"pseudonymised", "error"}),
    "pseudonymised": frozenset({"stored", "error"}),
    "stored": frozenset({"reported", "error"}),
    "reported": frozenset({"qc_selected", "finished"}),
    "qc_selected": frozenset({"finished"}),
    "finished": frozenset(),
    "error": frozenset(),
})
"""Which states an item in a state (``None``: not yet known) may move to next."""

IntakeStep = Literal["validate", "pseudonymise", "store", "report", "finish"]
STEP_STARTS: Mapping[IntakeStep, IntakeState] = MappingProxyType({
    "validate": "received",
    "pseudonymise": "validated",
    "store": "pseudonymised",
    "report": "stored",
    "finish": "reported",
})
"""The state an item must be in for a step to act on it (what makes a rerun resume)."""

OPEN_STATES: frozenset[IntakeState] = frozenset({"received", "validated", "pseudonymised",
                                                 "stored"})
"""States whose next step still needs the item's file (to pseudonymise, store or report it)."""

Reporter = Callable[[dict[str, Any]], str]
"""Hands a Prüfbericht (``{"SubmittedCase": …}``) to the platform; returns the confirmation id."""


def check_transition(key: str, current: IntakeState | None, target: IntakeState) -> None:
    """Raise :class:`ConflictError` unless an item in ``current`` may move to ``target``.

    Examples
    --------
    >>> check_transition("sub-1", "validated", "pseudonymised")
    >>> check_transition("sub-1", "finished", "error")
    Traceback (most recent call last):
    ...
    genomlab.errors.ConflictError: sub-1: cannot move from finished to error
    """
    if target not in TRANSITIONS[current]:
        raise ConflictError(f"{key}: cannot move from {current or 'nothing'} to {target}")


def is_due(state: IntakeState | None, step: IntakeStep) -> bool:
    """Whether a (re)run should do ``step`` for an item in ``state``.

    Examples
    --------
    >>> is_due("validated", "pseudonymise"), is_due("stored", "pseudonymise")
    (True, False)
    """
    return state == STEP_STARTS[step]


def validate_pruefbericht(case: Mapping[str, Any]) -> dict[str, Any]:
    """A Prüfbericht (BfArM model) of one ``SubmittedCase``, as JSON-ready camelCase dict."""
    from grz_pydantic_models.pruefbericht import Pruefbericht

    return Pruefbericht.model_validate({"SubmittedCase": dict(case)}).model_dump(
        mode="json", by_alias=True)


@dataclass(frozen=True)
class IntakeKind:
    """How one node kind keeps its intake items.

    Attributes
    ----------
    kind:
        ``grz`` or ``kdk``: the institution kind (folder, store, ledger actor).
    noun:
        What an item is called in event types and streams (``submission``, ``record``).
    items, key:
        The projection table with one row per item (columns ``state`` and ``tan_hash``) and
        its key column.
    ledger:
        The node's declared events and its full projection set (the one that keeps ``items``
        among them).
    data_category:
        ``dataCategory`` of the node's Prüfbericht.
    samples_for_detailed_qc:
        Whether reported items wait for BfArM's detailed-QC sampling (a GRZ) or are finished
        at once (a KDK).
    """

    kind: Literal["grz", "kdk"]
    noun: str
    items: Table
    key: str
    ledger: LedgerSpec
    data_category: Literal["genomic", "clinical"]
    samples_for_detailed_qc: bool


class NodeIntake:
    """The intake items of one data node: its ledger, item table and intake lock.

    A node kind subclasses it and sets ``intake_kind``.
    """

    intake_kind: ClassVar[IntakeKind]

    def __init__(self, config: GenomlabConfig, node_id: str) -> None:
        spec = self.intake_kind
        self.config = config
        self.node_id = node_id
        self.institution = Institution(config, spec.kind, node_id)
        self.ledger: Ledger = self.institution.ledger(spec.ledger)
        self.actor = f"{spec.kind}:{node_id}"
        self.noun, self.items, self.key = spec.noun, spec.items, spec.key

    # --- reading ----------------------------------------------------------------------

    def get_item(self, key: str) -> Row[Any] | None:
        """The item's row, or ``None`` if intake has not seen it."""
        with read_connection(self.ledger.engine) as conn:
            return conn.execute(select(self.items)
                                .where(self.items.c[self.key] == key)).first()

    def get_state(self, key: str) -> IntakeState | None:
        """The item's state, or ``None`` if intake has not seen it."""
        row = self.get_item(key)
        return None if row is None else row.state

    def list_items(self) -> list[dict[str, Any]]:
        """All item rows (dicts), ordered by key."""
        with read_connection(self.ledger.engine) as conn:
            rows = conn.execute(select(self.items).order_by(self.items.c[self.key])).all()
        return [dict(r._mapping) for r in rows]

    # --- the door -------------------------------------------------------------------------

    def check_node_approved(self, node_status: NodeStatusSource | None = None) -> None:
        """Refuse intake (:class:`~genomlab.node_approval.NodeNotApproved`) unless the platform
        approves this node now; called before anything is received, so a refused run records,
        stores and exchanges nothing.

        ``node_status`` is the platform's look-up (default: this home's platform store).
        """
        source = node_status if node_status is not None else get_platform_node_status(self.config)
        check_node_approved(source, self.node_id,
                            door=f"{self.intake_kind.kind.upper()} {self.node_id} intake")

    # --- moving items -----------------------------------------------------------------

    @contextmanager
    def intake_lock(self) -> Iterator[None]:
        """Held for a whole intake run: one run per node at a time, a second one is refused."""
        self.institution.directory.mkdir(parents=True, exist_ok=True)
        with (self.institution.directory / "intake.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ConflictError(f"{self.intake_kind.kind} {self.node_id}: another "
                                    "intake is running") from exc
            yield

    def advance(self, key: str, target: IntakeState, payload: Mapping[str, Any] | None = None,
                *, tx: LedgerTransaction | None = None, event: str | None = None) -> None:
        """Move the item to ``target`` by recording ``<noun>.<event>`` (``event`` defaults to
        ``target``), in ``tx`` if given; refused unless :data:`TRANSITIONS` allows the move.

        The current state is read in the same transaction, so two runs cannot both move it.
        """
        if tx is None:
            with self.ledger.transaction() as own:
                return self.advance(key, target, payload, tx=own, event=event)
        current = tx.conn.execute(select(self.items.c.state)
                                  .where(self.items.c[self.key] == key)).scalar()
        check_transition(key, current, target)
        self.record_event(key, event or target, payload, tx=tx)
        return None

    def record_event(self, key: str, event: str, payload: Mapping[str, Any] | None = None, *,
                     tx: LedgerTransaction) -> None:
        """Record ``<noun>.<event>`` on the item's stream (in ``tx``) without checking a move."""
        tx.append(f"{self.noun}.{event}", {self.key: key, **(payload or {})},
                  actor=self.actor, stream=f"{self.noun}:{key}")

    def begin(self, key: str, payload: Mapping[str, Any] | None = None) -> IntakeState:
        """Record ``received`` (with ``payload``) for an item intake has not seen; return the
        item's state."""
        state = self.get_state(key)
        if state is None:
            self.advance(key, "received", payload)
            return "received"
        return state

    def record_validation(self, key: str, tan_hash: str, fields: Mapping[str, Any],
                          reuse_error: Callable[[str], Mapping[str, Any]] | None) -> bool:
        """Record ``validated`` with ``fields``, or ``error`` if another item holds the TAN.

        ``reuse_error`` gives the error payload from the key of the item that used the TAN
        first; ``None``: the TAN is not checked here (a GRZ: grz-db refuses a reused tanG).
        Returns whether the item was validated.
        """
        with self.ledger.transaction() as tx:
            reused = None if reuse_error is None else self.find_tan_owner(tx.conn, key, tan_hash)
            if reused is not None and reuse_error is not None:
                self.advance(key, "error", reuse_error(reused), tx=tx)
                return False
            self.advance(key, "validated", {"fields": {"tan_hash": tan_hash, **fields}}, tx=tx)
            return True

    def find_tan_owner(self, conn: Connection, key: str, tan_hash: str) -> str | None:
        """The key of another item (not failed) that came with the same TAN, if any."""
        return conn.execute(select(self.items.c[self.key]).where(
            (self.items.c.tan_hash == tan_hash) & (self.items.c[self.key] != key)
            & (self.items.c.state != "error"))).scalar()

    def confirm_delivery(self, service: PseudonymService, reference: str,
                         pseudonym: str) -> None:
        """Confirm to the trust centre that the data is stored under ``pseudonym``.

        A confirmation that already went through before a crash is not an error.
        """
        try:
            service.confirm_delivery(reference, node_id=self.node_id, pseudonym=pseudonym)
        except ConflictError as exc:
            if "already used" not in str(exc):
                raise

    def build_pruefbericht(self, key: str, tan: str, case: SubmittedCaseFields
                           ) -> dict[str, Any]:
        """The Prüfbericht of a stored item (BfArM model) with the case fields of its file.

        The case fields come from the file being taken in, not from the node's store: the store
        keeps them coarsened (a GRZ: the month) or not at all (a KDK), so that they cannot link
        the node's items to another node's.
        """
        row = self.get_item(key)
        if row is None:
            raise ConflictError(f"{key}: no such {self.noun} at {self.actor}")
        return validate_pruefbericht({
            "submissionDate": case.submission_date, "submissionType": case.submission_type,
            "tan": tan, "submitterId": case.submitter_id, "dataNodeId": self.node_id,
            "diseaseType": case.disease_type, "dataCategory": self.intake_kind.data_category,
            "libraryType": case.library_type, "coverageType": case.coverage_type,
            "dataQualityCheckPassed": self.get_quality_check_passed(row)})

    def get_quality_check_passed(self, row: Row[Any]) -> bool:
        """``dataQualityCheckPassed`` of a stored item's Prüfbericht (stored means passed)."""
        return True

    def report(self, key: str, tan: str, case: SubmittedCaseFields, reporter: Reporter) -> None:
        """Hand a stored item's Prüfbericht (``case``: the fields of its file) to the platform
        and record ``reported``.

        A node that does not sample for detailed QC finishes the item in the same transaction.
        """
        if not is_due(self.get_state(key), "report"):
            return
        confirmation_id = reporter(self.build_pruefbericht(key, tan, case))
        with self.ledger.transaction() as tx:
            self.advance(key, "reported", {"confirmation_id": confirmation_id}, tx=tx)
            if not self.intake_kind.samples_for_detailed_qc:
                self.advance(key, "finished", tx=tx)
