"""``genomlab reports``: run the scheduled reports that are due, list the schedule, show history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from genomlab import clock
from genomlab.cli_context import CliContext, get_operator, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.errors import GenomlabError, NotFoundError, ValidationFailed
from genomlab.institution import Institution

DEFAULT_SCHEDULE = Path(__file__).resolve().parents[2] / "reports" / "schedule.toml"
"""The schedule shipped with genomlab; found from any working directory (a ``--schedule``
a user types stays relative to where they are)."""
schedule_option = click.option(
    "--schedule", "schedule_path", type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_SCHEDULE, show_default=True, help="The report schedule (TOML).")


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return clock.now()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"--now: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group()
def reports() -> None:
    """Scheduled papermill reports: HTML without code plus tables; public ones pass SDC checks."""


@reports.command("run-due")
@schedule_option
@click.option("--now", "now_text", default=None,
              help="Pretend it is this ISO time (UTC if no offset); default: the clock.")
@pass_cli
def run_due(cli: CliContext, schedule_path: Path, now_text: str | None) -> None:
    """Run every report whose latest scheduled slot has not run yet; record each run.

    Safe to call as often as you like (cron every few minutes): a slot runs once. Exits 1 if a
    report failed (after running all the others).
    """
    from rich.progress import Progress

    from genomlab.reports.runner import run_due_reports
    from genomlab.reports.schedule import load_schedule

    specs = load_schedule(schedule_path)
    now = _parse_now(now_text)
    with Progress(transient=True) as progress:
        task = progress.add_task("reports", total=len(specs))

        def advance(spec: object) -> None:
            progress.update(task, advance=1, description=getattr(spec, "name", ""))

        outcomes = run_due_reports(cli.config, specs, now, actor=get_operator(),
                                   on_start=advance)
    if not outcomes:
        click.echo(f"nothing due at {now.isoformat(timespec='minutes')}")
    for outcome in outcomes:
        click.echo(f"{outcome.key}: {outcome.status} in {outcome.duration_s:.1f}s "
                   f"-> {outcome.output_dir}")
        for reason in outcome.reasons[:5]:
            click.echo(f"    {reason}")
    failed = [o.key for o in outcomes if o.status == "failed"]
    if failed:
        raise GenomlabError(f"{len(failed)} report(s) failed: {', '.join(failed)}")


@reports.command("list")
@schedule_option
@click.option("--now", "now_text", default=None, help="Show slots as of this ISO time.")
@format_option()
def list_reports(schedule_path: Path, now_text: str | None, output_format: OutputFormat) -> None:
    """List the scheduled reports with their latest and next slot (UTC)."""
    from croniter import croniter

    from genomlab.reports.schedule import load_schedule

    now = _parse_now(now_text)
    rows = [{"name": spec.name, "audience": spec.audience, "cron": spec.cron,
             "latest": spec.latest_slot(now).isoformat(timespec="minutes"),
             "next": croniter(spec.cron, now).get_next(datetime).isoformat(timespec="minutes"),
             "notebook": spec.notebook.name} for spec in load_schedule(schedule_path)]
    echo_rows(rows, [("name", "Report"), ("audience", "Audience"), ("cron", "Cron (UTC)"),
                     ("latest", "Latest slot"), ("next", "Next slot"),
                     ("notebook", "Notebook")], output_format)


@reports.command("history")
@click.option("--name", default=None, help="Only this report (a name of the schedule).")
@click.option("--limit", default=20, show_default=True, help="How many runs.")
@schedule_option
@format_option()
@pass_cli
def history(cli: CliContext, name: str | None, limit: int, schedule_path: Path,
            output_format: OutputFormat) -> None:
    """Show recorded runs: slot, status, duration, outputs and reasons.

    Reads only: a home without reports shows no runs and gets no reports store; a ``--name``
    that is neither scheduled nor ever run is refused, naming the known reports.
    """
    from genomlab.reports.runner import get_run_history
    from genomlab.reports.schedule import load_schedule

    has_runs = Institution(cli.config, "reports").directory.is_dir()
    runs = get_run_history(cli.config) if has_runs else []
    if name is not None:
        known = {run["name"] for run in runs}
        if schedule_path.is_file():
            known |= {spec.name for spec in load_schedule(schedule_path)}
        if name not in known:
            raise NotFoundError(f"no report named {name!r} (known: "
                                f"{', '.join(sorted(known)) or 'none'})")
        runs = [run for run in runs if run["name"] == name]
    shown = [{**run, "n_files": len(run["outputs"]),
              "reason": run["reasons"][0] if run["reasons"] else None} for run in runs[:limit]]
    echo_rows(shown, [("key", "Run (report@slot)"), ("status", "Status"),
                      ("duration_s", "Seconds"), ("n_files", "Files"),
                      ("output_dir", "Output folder"), ("reason", "First reason")],
              output_format, footer=f"{len(runs)} runs")


commands = [reports]
