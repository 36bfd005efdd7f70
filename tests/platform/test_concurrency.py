"""Two deciders in two processes decide the same application at the same moment."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from genomlab.ledger import projection_matches
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.projection import PROJECTION
from genomlab.platform.applications.queries import get_application_detail
from tests.conftest import config_for
from tests.platform.conftest import World


def _decide(home: str, actor: str, application_id: str, action: str, barrier, results) -> None:
    from genomlab.errors import ConflictError

    workflow = Workflow(config_for(Path(home)))
    barrier.wait(30)
    try:
        if action == "approve":
            workflow.approve(actor, application_id)
        else:
            workflow.reject(actor, application_id, "Not necessary for the research question.")
        results.put((actor, "ok", ""))
    except ConflictError as exc:
        results.put((actor, "conflict", str(exc)))


def test_decide__two_processes_one_wins_other_gets_conflict(world: World) -> None:
    app = world.under_review()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_decide, args=(str(world.config.home), actor, app, action,
                                                barrier, results))
             for actor, action in (("dora", "approve"), ("dieter", "reject"))]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    outcome = sorted(results.get(timeout=5) for _ in procs)
    assert sorted(kind for _, kind, _ in outcome) == ["conflict", "ok"]
    winner = next(actor for actor, kind, _ in outcome if kind == "ok")
    message = next(text for _, kind, text in outcome if kind == "conflict")
    status = "approved" if winner == "dora" else "rejected"
    assert f"is {status} (decided by {winner}" in message
    row = get_application_detail(world.config, app).row
    assert (row["status"], row["decided_by"]) == (status, winner)
    decisions = [e for e in world.wf.ledger.events(stream=app)
                 if e.type in ("application.approved", "application.rejected")]
    assert [e.actor for e in decisions] == [winner]
    assert world.wf.ledger.verify().ok
    assert projection_matches(world.wf.ledger, PROJECTION) == []
