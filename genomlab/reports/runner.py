"""Run scheduled reports with papermill and record every run in the reports ledger.

A run executes the report notebook with papermill (parameters from the schedule plus
``config_json`` and ``output_dir``), exports it to HTML without code (nbconvert's HTMLExporter
with ``exclude_input``), hashes every output file and records the run:

- ``report.run.started``: the run claims its idempotency key (report name + slot) inside a ledger
  transaction, so two ``run-due`` processes at the same time run a report once;
- ``report.run.finished``: status ``succeeded`` (internal), ``published`` or ``withheld``
  (public: the tables the notebook wrote passed, or did not pass, the disclosure checks; the
  reasons are recorded) or ``failed`` (the error notebook is kept), with duration and sha256 of
  each output.

Runs live in ``<home>/reports/runs/<name>/<slot>/``; a published report is copied to
``<home>/reports/public/<name>/<slot>/``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Float, MetaData, String, Table, Text, insert, select
from sqlalchemy import update as sql_update

from genomlab import clock
from genomlab.airlock.files import sha256_file
from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.events import LedgerSpec
from genomlab.home import get_home_relative, resolve_in_home
from genomlab.institution import Institution
from genomlab.ledger import DispatchProjection, Event, EventHandler, Ledger
from genomlab.reports.events import REPORTS_EVENTS
from genomlab.reports.schedule import ReportSpec, run_key

TABLE_SUFFIXES = (".csv", ".parquet")


class ReportRunsProjection(DispatchProjection):
    """Current state of report runs: one row per idempotency key."""

    metadata = MetaData()
    runs = Table(
        "report_runs",
        metadata,
        Column("key", String(120), primary_key=True),
        Column("name", String(64), nullable=False, index=True),
        Column("slot", String(32), nullable=False),
        Column("audience", String(16), nullable=False),
        Column("notebook", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", String(32), nullable=False),
        Column("duration_s", Float, nullable=True),
        Column("output_dir", Text, nullable=True),
        Column("outputs", Text, nullable=True),
        Column("reasons", Text, nullable=True),
    )

    def __init__(self) -> None:
        self.handlers: dict[str, EventHandler] = {"report.run.started": self._started,
                                                  "report.run.finished": self._finished}

    def _started(self, conn: Connection, event: Event) -> None:
        p = event.payload
        conn.execute(insert(self.runs).values(
            key=p["key"], name=p["name"], slot=p["slot"], audience=p["audience"],
            notebook=p["notebook"], status="running", started_at=event.recorded_at))

    def _finished(self, conn: Connection, event: Event) -> None:
        p = event.payload
        conn.execute(sql_update(self.runs).where(self.runs.c.key == p["key"]).values(
            status=p["status"], duration_s=p["duration_s"], output_dir=p["output_dir"],
            outputs=json.dumps(p["outputs"], sort_keys=True), reasons=json.dumps(p["reasons"])))


REPORTS_LEDGER = LedgerSpec.of(REPORTS_EVENTS, [ReportRunsProjection()])
"""The report runner's events and projections."""


def open_reports_ledger(config: GenomlabConfig, **kwargs: Any) -> Ledger:
    """The reports ledger under ``<home>/reports/`` with its runs projection."""
    return Institution(config, "reports").ledger(REPORTS_LEDGER, **kwargs)


@dataclass(frozen=True)
class RunOutcome:
    """What one run did."""

    key: str
    name: str
    status: str
    duration_s: float = 0.0
    output_dir: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def hash_outputs(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, keyed by relative path."""
    return {str(p.relative_to(directory)): sha256_file(p)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def export_html_without_code(notebook: Path, html_path: Path) -> None:
    """Write the executed notebook as HTML with outputs and plots but no code cells."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(html_path)


def get_disclosure_reasons(config: GenomlabConfig, directory: Path) -> list[str]:
    """Why the tables a report wrote may not be published; empty when all pass the checks.

    The checks apply to counts of people: a column the report declared as counting something
    else (applications, events, nodes; :mod:`genomlab.reports.tables`) is not suppressed, and a
    count column without a declaration is checked as a count of people.
    """
    from genomlab.airlock.checks import check_table
    from genomlab.airlock.files import read_output_table
    from genomlab.reports.tables import get_disclosure_roles, read_count_declaration

    tables = [p for p in sorted(directory.rglob("*")) if p.suffix in TABLE_SUFFIXES]
    if not tables:
        return ["the report wrote no machine-readable table to check"]
    reasons = []
    for path in tables:
        frame = read_output_table(path)
        roles = get_disclosure_roles(frame, read_count_declaration(path))
        for result in check_table(frame, config.disclosure, roles=roles):
            if result.status != "pass":
                reasons += [f"{path.relative_to(directory)}: {result.check} {result.status}: {r}"
                            for r in result.reasons]
    return reasons


def get_declared_counts(directory: Path) -> dict[str, str]:
    """What every declared count column of a run's tables counts: ``{"tables/x.csv:n": unit}``."""
    from genomlab.reports.tables import read_count_declaration

    declared: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix in TABLE_SUFFIXES:
            for column, unit in read_count_declaration(path).items():
                declared[f"{path.relative_to(directory)}:{column}"] = unit
    return declared


def add_status_banner(config: GenomlabConfig, spec: ReportSpec, out_dir: Path, *,
                      status: str, slot: datetime) -> None:
    """Put the title, period, run time and status banner at the top of ``report.html``."""
    from genomlab.reports.tables import insert_banner, read_report_meta, render_status_banner

    page = out_dir / "report.html"
    if not page.is_file():
        return
    meta = read_report_meta(out_dir)
    banner = render_status_banner(
        status=status, title=meta.get("title", spec.name.replace("-", " ").capitalize()),
        period=meta.get("period", f"up to {slot:%Y-%m-%d %H:%M} UTC"), slot=slot,
        run_at=clock.now(), min_cell_count=config.disclosure.min_cell_count,
        declared=get_declared_counts(out_dir))
    page.write_text(insert_banner(page.read_text(encoding="utf-8"), banner), encoding="utf-8")


def _execute(config: GenomlabConfig, spec: ReportSpec, out_dir: Path) -> None:
    import papermill

    parameters = {**spec.parameters, "config_json": config.model_dump_json(),
                  "output_dir": str(out_dir)}
    papermill.execute_notebook(
        str(spec.notebook), str(out_dir / "report.ipynb"), parameters=parameters,
        kernel_name="python3", cwd=str(out_dir), progress_bar=False, execution_timeout=1800,
    )


def run_report(config: GenomlabConfig, ledger: Ledger, spec: ReportSpec, slot: datetime,
               *, actor: str) -> RunOutcome | None:
    """Run one report for one slot unless that slot already ran; ``None`` when it had.

    Examples
    --------
    The platform-activity report of ``reports/schedule.toml`` (a notebook run, ~10 s) for
    the July 2026 slot, then the same slot again:

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.reports.schedule import load_schedule
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> spec = load_schedule(Path("reports/schedule.toml"))[0]
    >>> slot = spec.latest_slot(datetime(2026, 7, 1, 12, tzinfo=UTC))
    >>> outcome = run_report(config, open_reports_ledger(config), spec, slot, actor="cron")
    >>> outcome.key, outcome.status, [name for name in outcome.outputs if name.endswith(".csv")]
    ... # doctest: +NORMALIZE_WHITESPACE
    ('platform-activity@2026-07-01T06:00Z', 'published', ['tables/activity_by_month.csv',
     'tables/confirmed_cases_by_quarter.csv', 'tables/ledger_integrity.csv'])
    >>> run_report(config, open_reports_ledger(config), spec, slot, actor="cron") is None
    True
    """
    key = run_key(spec.name, slot)
    runs = ReportRunsProjection.runs
    with ledger.transaction() as tx:
        if tx.conn.execute(select(runs.c.key).where(runs.c.key == key)).first() is not None:
            return None
        tx.append("report.run.started", {
            "key": key, "name": spec.name, "slot": slot.astimezone(UTC).isoformat(),
            "audience": spec.audience, "notebook": str(spec.notebook),
            "parameters": spec.parameters}, actor=actor, stream=spec.name)
    out_dir = config.reports_dir / "runs" / spec.name / key.split("@", 1)[1].replace(":", "")
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a crashed earlier attempt of this key left files behind
    out_dir.mkdir(parents=True)
    started = time.monotonic()
    reasons: list[str] = []
    try:
        _execute(config, spec, out_dir)
        export_html_without_code(out_dir / "report.ipynb", out_dir / "report.html")
        if spec.audience == "public":
            reasons = get_disclosure_reasons(config, out_dir)
            status = "withheld" if reasons else "published"
        else:
            status = "succeeded"
        add_status_banner(config, spec, out_dir, status=status, slot=slot)
    except Exception as exc:  # any failure of a report is recorded, not raised
        status = "failed"
        reasons = [f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc) else ''}"]
    outputs = hash_outputs(out_dir)
    if status == "published":
        public = config.reports_dir / "public" / spec.name / out_dir.name
        if public.exists():
            shutil.rmtree(public)
        public.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out_dir, public, ignore=shutil.ignore_patterns("*.ipynb"))
    outcome = RunOutcome(key, spec.name, status, round(time.monotonic() - started, 3),
                         str(out_dir), outputs, reasons)
    criteria = None
    if spec.audience == "public":
        criteria = {**config.disclosure.model_dump(),
                    "declared_counts": get_declared_counts(out_dir)}
    ledger.append("report.run.finished", {
        "key": key, "status": status, "duration_s": outcome.duration_s,
        "output_dir": get_home_relative(config.home, out_dir), "outputs": outputs,
        "reasons": reasons, "criteria": criteria},
        actor=actor, stream=spec.name)
    return outcome


def run_due_reports(
    config: GenomlabConfig,
    specs: Sequence[ReportSpec],
    now: datetime,
    *,
    actor: str = "scheduler",
    on_start: Callable[[ReportSpec], None] | None = None,
) -> list[RunOutcome]:
    """Run every report whose latest slot at or before ``now`` has not run yet.

    A failing report is recorded and the next one still runs.

    Examples
    --------
    :func:`run_report` shows a published run. A report whose notebook is missing fails, is
    recorded, and is not run again for the same slot:

    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> spec = ReportSpec(name="missing", cron="0 6 * * *", notebook=Path("no-such.ipynb"))
    >>> now = datetime(2026, 7, 1, tzinfo=UTC)
    >>> [(o.key, o.status) for o in run_due_reports(config, [spec], now)]
    [('missing@2026-06-30T06:00Z', 'failed')]
    >>> run_due_reports(config, [spec], now)
    []
    """
    ledger = open_reports_ledger(config)
    outcomes = []
    for spec in specs:
        if on_start is not None:
            on_start(spec)
        outcome = run_report(config, ledger, spec, spec.latest_slot(now), actor=actor)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def get_run_history(config: GenomlabConfig, name: str | None = None) -> list[dict[str, Any]]:
    """Every recorded run, newest slot first, optionally of one report."""
    ledger = open_reports_ledger(config)
    runs = ReportRunsProjection.runs
    query = select(runs).order_by(runs.c.slot.desc(), runs.c.name)
    if name is not None:
        query = query.where(runs.c.name == name)
    with read_connection(ledger.engine) as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row["outputs"] = json.loads(row["outputs"]) if row["outputs"] else {}
        row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else []
        if row["output_dir"]:
            row["output_dir"] = str(resolve_in_home(config.home, row["output_dir"]))
    return rows
