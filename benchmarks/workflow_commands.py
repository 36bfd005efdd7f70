"""Workflow commands per second with the signed ledger: SQLite vs PostgreSQL, same workload.

Run: ``bash .ci/postgres`` once, then
``.venv/bin/python benchmarks/workflow_commands.py [--cycles 250] [--workers 4] [--postgres URL]``

Each command is what a user's click does: one serialised ledger transaction that reads the
application's state, checks roles and conflicts, appends one Ed25519-signed, hash-chained event
and updates the projection. A cycle is four commands on one application: create draft, submit,
assign handler, approve. Prints, for each store,
- one user: commands per second, one command after the other;
- ``--workers`` processes at once (each its own cycles on the same platform store);
and the PostgreSQL/SQLite ratios. PostgreSQL is the ``genomlab_bench`` database of
``.ci/postgres`` (a schema per run, dropped afterwards); its server runs with fsync off, like the
SQLite store's ``synchronous=NORMAL`` it is not a durability comparison.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from genomlab.config import GenomlabConfig, load_config
from genomlab.db import dispose_engines
from genomlab.platform.applications import ApplicationForm, Role, Workflow
from genomlab.platform.applications.models import TERMS_OF_USE_VERSION

DEFAULT_POSTGRES = "postgresql+psycopg://genomlab@127.0.0.1:55432/genomlab_bench"
APPLICANTS = tuple(f"researcher{k:02d}" for k in range(16))

FORM = ApplicationForm(
    title="Variant burden in rare epilepsies", lay_summary="How often do variants explain it?",
    scientific_abstract="Burden tests on genome data with clinical phenotypes.",
    purposes=("research",), duo_permission="HMB", duo_modifiers=("PUB",),
    data_categories=("genomic", "clinical"), clinical_fields=("diagnosis",),
    duration_months=12, ethics_vote_reference="EK 1/2026", accepted_terms=TERMS_OF_USE_VERSION,
    team=())


def make_config(home: Path, postgres: str | None, schema: str) -> GenomlabConfig:
    environ = {"GENOMLAB_HOME": str(home)}
    if postgres:
        url = f"{postgres}?options=-csearch_path%3D{schema}"
        environ |= {f"GENOMLAB_STORES__{kind}": url
                    for kind in ("PLATFORM", "TRUST_CENTER", "DATA_SERVICE")}
    return load_config(environ=environ)


def prepare(config: GenomlabConfig) -> None:
    workflow = Workflow(config)
    with workflow.batch():
        workflow.bootstrap_admin("root", institution="BfArM")
        for user in APPLICANTS:
            workflow.register_user("root", user, institution=f"Uni {user[-2:]}")
        for user, role in (("hanna", Role.HANDLER), ("dora", Role.DECIDER)):
            workflow.register_user("root", user, institution="BfArM")
            workflow.grant_role("root", user, role)


def run_cycles(config: GenomlabConfig, cycles: int, worker: int) -> int:
    """``cycles`` × 4 commands, each in its own transaction; returns the number of commands."""
    workflow = Workflow(config)
    for i in range(cycles):
        applicant = APPLICANTS[(worker + i) % len(APPLICANTS)]
        app = workflow.create_draft(applicant, FORM)
        workflow.submit(applicant, app)
        workflow.assign_handler("hanna", app)
        workflow.approve("dora", app)
    return 4 * cycles


def _worker(config: GenomlabConfig, cycles: int, worker: int, barrier: Any) -> None:
    Workflow(config)  # connect before the clock starts
    barrier.wait(120)
    run_cycles(config, cycles, worker)


def measure(config: GenomlabConfig, cycles: int, workers: int) -> tuple[float, float]:
    """(commands/s of one user, commands/s of ``workers`` processes together)."""
    prepare(config)
    started = time.perf_counter()
    n = run_cycles(config, cycles, 0)
    sequential = n / (time.perf_counter() - started)
    dispose_engines()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=_worker, args=(config, cycles, w, barrier))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    barrier.wait(120)
    started = time.perf_counter()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"worker exited with {proc.exitcode}")
    concurrent = workers * 4 * cycles / (time.perf_counter() - started)
    workflow = Workflow(config)
    report = workflow.ledger.verify()
    if not report.ok or workflow.ledger.head()[0] < (workers + 1) * 4 * cycles:
        raise RuntimeError(f"ledger after the run: {report}")
    return sequential, concurrent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=250, help="cycles of 4 commands per user")
    parser.add_argument("--workers", type=int, default=4, help="processes in the concurrent run")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL database URL")
    args = parser.parse_args()
    schema = f"bench_{secrets.token_hex(4)}"
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, postgres in (("SQLite", None), ("PostgreSQL", args.postgres)):
            config = make_config(Path(tmp) / name, postgres, schema)
            results[name] = measure(config, args.cycles, args.workers)
            dispose_engines()
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()

    print(f"workflow commands per second ({args.cycles} cycles × 4 commands per user, "
          "each a signed ledger transaction)")
    print(f"{'store':<12}{'1 user':>12}{f'{args.workers} processes':>16}")
    for name, (sequential, concurrent) in results.items():
        print(f"{name:<12}{sequential:>12.0f}{concurrent:>16.0f}")
    (seq_s, con_s), (seq_p, con_p) = results["SQLite"], results["PostgreSQL"]
    print(f"PostgreSQL/SQLite: 1 user {seq_p / seq_s:.2f}×, "
          f"{args.workers} processes {con_p / con_s:.2f}×")


if __name__ == "__main__":
    main()
