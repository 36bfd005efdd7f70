"""Eight processes × 500 commands on one platform and one node ledger at once.

Runs on the configured stores: PostgreSQL under ``PYTEST_POSTGRES`` (the CI PostgreSQL pass), else
SQLite. Every worker submits its own applications, races the others to decide shared ones and
appends to a node's ledger. Afterwards no event is lost, every application has one id, every race
has exactly one winner, the losers got ``ConflictError`` (nothing else), both ledgers verify and
the projection equals the replayed events.
"""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from genomlab.config import GenomlabConfig
from genomlab.genome_center.store import open_genome_center_ledger
from genomlab.institution import Institution
from genomlab.ledger import projection_matches
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.projection import PROJECTION
from tests.conftest import config_for
from tests.platform.conftest import make_form, populate

N_WORKERS = 8
N_COMMANDS = 500
NODE = "GRZK00001"
APPLICANTS = ("alice", "bob", "tom")
DECIDERS = ("dora", "dieter")  # BfArM: no conflict of interest with any applicant


def _work(home: str, worker: int, contested: list[str], barrier: Any, results: Any) -> None:
    """One user session: 500 commands, a quarter of each kind; reports what succeeded."""
    from genomlab.errors import ConflictError

    config = config_for(Path(home))
    workflow = Workflow(config)
    node_ledger = open_genome_center_ledger(config, NODE)
    done: Counter[str] = Counter()
    drafts: list[str] = []
    messages: set[str] = set()
    try:
        # inside the try: a worker that cannot start in time (8 spawned interpreters importing
        # genomlab on a loaded 2-core machine) reports it instead of dying silently
        barrier.wait(600)
        for k in range(N_COMMANDS):
            kind = ("append", "draft", "submit", "decide")[k % 4]
            applicant = APPLICANTS[(worker + k) % len(APPLICANTS)]
            if kind == "append":
                node_ledger.append("submission.received", {"inbox_id": f"w{worker}-{k}"},
                                   actor=f"worker{worker}")
            elif kind == "draft":
                drafts.append(workflow.create_draft(applicant, make_form(team=())))
            elif kind == "submit":
                workflow.submit(APPLICANTS[(worker + k - 1) % len(APPLICANTS)], drafts[-1])
            else:
                app = contested[k // 4]
                try:
                    if worker % 2:
                        workflow.reject(DECIDERS[worker % 2], app, f"worker {worker} says no")
                    else:
                        workflow.approve(DECIDERS[worker % 2], app)
                except ConflictError as exc:
                    kind = "conflict"
                    messages.add(re.sub(r"APP-\d+|by \w+|\(.*\)", "…", str(exc)))
            done[kind] += 1
        results.put((worker, dict(done), drafts, messages, ""))
    except Exception as exc:  # any other exception is a finding: report it
        results.put((worker, dict(done), drafts, messages, f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
def test_workflow__8_processes_x_500_commands_lose_nothing(config: GenomlabConfig) -> None:
    workflow = Workflow(config)
    populate(workflow)
    contested = []
    with workflow.batch():  # the applications all workers race to decide
        for _ in range(N_COMMANDS // 4):
            app = workflow.create_draft("alice", make_form(team=()))
            workflow.submit("alice", app)
            workflow.assign_handler("hanna", app)
            contested.append(app)
    before = workflow.ledger.head()[0]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(N_WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_work, args=(str(config.home), w, contested, barrier, results))
             for w in range(N_WORKERS)]
    for proc in procs:
        proc.start()
    reports = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0

    assert [error for *_, error in reports if error] == []
    done = sum((Counter(d) for _, d, _, _, _ in reports), Counter())
    for message in set().union(*(m for *_, m, _ in reports)):  # one clear reason per loser
        assert re.fullmatch(r"(approve|reject): … is (approved|rejected) …; needs .+", message)
    per_kind = N_WORKERS * N_COMMANDS // 4
    assert (done["append"], done["draft"], done["submit"]) == (per_kind,) * 3
    assert (done["decide"], done["conflict"]) == (len(contested), per_kind - len(contested))

    new = Counter(e.type for e in workflow.ledger.events(since=before))
    # Counter == Counter treats a missing type as 0 (every race may go to the rejecters)
    assert new == Counter({"application.drafted": per_kind, "application.submitted": per_kind,
                           "application.approved": new["application.approved"],
                           "application.rejected": len(contested) - new["application.approved"]})
    drafted = [app for *_, drafts, _, _ in reports for app in drafts]
    assert len(set(drafted)) == per_kind  # no two workers got the same application id
    decided = Counter(e.stream for e in workflow.ledger.events(since=before)
                      if e.type in ("application.approved", "application.rejected"))
    assert decided == dict.fromkeys(contested, 1)

    node_ledger = Institution(config, "grz", NODE).ledger()
    appended = [e.payload["inbox_id"] for e in node_ledger.events()]
    assert sorted(appended) == sorted(f"w{w}-{k}" for w in range(N_WORKERS)
                                      for k in range(0, N_COMMANDS, 4))
    assert workflow.ledger.verify(full=True).ok
    assert node_ledger.verify(full=True).ok
    assert projection_matches(workflow.ledger, PROJECTION) == []
