"""``genomlab grz submit`` and ``genomlab kdk submit``: intake wired to trust centre and platform;
``genomlab trust-center consent withdraw-everywhere`` / ``delete-everywhere``: a withdrawal or
deletion propagated to every node, project and the feasibility index.

These commands are added to the ``grz`` and ``kdk`` groups of the node packages (the same group
objects), because only this composition root may hold the trust centre; ``genomlab.cli`` finds
this module through ``COMMAND_PACKAGES`` like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from genomlab.cli_context import CliContext, get_operator, node_option, pass_cli
from genomlab.clinical_node.cli import kdk
from genomlab.errors import GenomlabError
from genomlab.genome_center.cli import grz
from genomlab.trust_center.cli import consent


@grz.command("submit")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@node_option("GRZ whose inbox the folders are in (default: the one each metadata names).",
             required=False)
@pass_cli
def grz_submit(cli: CliContext, paths: tuple[Path, ...], node_id: str | None) -> None:
    """Validate, pseudonymise, store and report submission folders (DIR or a folder of DIRs).

    Resumes where a previous run stopped. Hail starts once, only if genotypes are stored.
    A folder whose metadata cannot be read, whose ``files/`` is a link, or whose inbox id names
    another submission is refused (nothing recorded) and the command fails.
    """
    from rich.progress import Progress

    from genomlab.intake import list_submission_dirs, run_grz_intake

    dirs = list_submission_dirs(list(paths))
    with Progress(transient=True) as bar:
        task = bar.add_task("intake", total=len(dirs))

        def step(message: str) -> None:
            bar.update(task, advance=1 if message.startswith("validate") else 0,
                       description=message[:60])

        results = run_grz_intake(cli.config, dirs, node_id=node_id, progress=step)
    failed, refused = 0, []
    for node, summary in results.items():
        click.echo(f"{node}: {summary.n_accepted} accepted, {len(summary.errors)} rejected, "
                   f"{len(summary.refused)} refused, {len(summary.batches)} genotype batch(es) "
                   "written")
        for inbox_id, reason in summary.errors.items():
            click.echo(f"  rejected {inbox_id}: {reason}")
        for reason in summary.refused.values():
            click.echo(f"  refused {reason}")
        failed += len(summary.errors)
        refused += summary.refused.values()
    if refused:
        raise GenomlabError(refused[0])
    if failed and len(dirs) == 1:
        raise GenomlabError(next(iter(next(s for s in results.values() if s.errors)
                                      .errors.values())))


@kdk.command("submit")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@node_option("KDK the records go to (default: the one each record names).", required=False)
@pass_cli
def kdk_submit(cli: CliContext, paths: tuple[Path, ...], node_id: str | None) -> None:
    """Validate, pseudonymise, store (Parquet) and report clinical record files (or folders).

    A file that cannot be read, names no valid tanC, or carries the tanC of a record another
    file brought is refused (no record changes) and the command fails.
    """
    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.intake import run_kdk_intake

    results = run_kdk_intake(cli.config, list(paths), node_id=node_id)
    errors, refused = [], []
    for node, outcomes in results.items():
        bad = [(path, o) for path, o in outcomes.items() if o.state in ("error", "refused")]
        click.echo(f"{node}: {len(outcomes) - len(bad)} accepted, {len(bad)} rejected")
        rows = {r["record_id"]: r for r in ClinicalNode(cli.config, node).get_records()}
        for path, outcome in bad:
            if outcome.record_id is None:
                line = outcome.message
                refused.append(line)
            else:
                row = rows[outcome.record_id]
                line = (f"{Path(path).name} (record {outcome.record_id}): field "
                        f"{row['failure_field']}: {row['failure_message']}")
                errors.append(line)
            click.echo(f"  rejected {line}")
    if refused or (errors and sum(len(s) for s in results.values()) == 1):
        raise GenomlabError((refused or errors)[0])


def _run_inbox(cli: CliContext, kind: str, node_id: str) -> None:
    """Intake of one node's inbox: through its running service (the operator credential in
    the node's folder), else in-process with the home's trust centre and platform."""
    import json

    from genomlab.clients.data_service import service_running
    from genomlab.clients.nodes import NodeOperatorClient, get_node_service_name
    from genomlab.institution import Institution
    from genomlab.intake import (
        get_pseudonym_service,
        make_platform_reporter,
        run_inbox_intake,
    )
    from genomlab.node_approval import get_platform_node_status

    folder = Institution(cli.config, kind, node_id).directory  # type: ignore[arg-type]
    if service_running(cli.config, get_node_service_name(kind, node_id)):
        summary = NodeOperatorClient(cli.config, kind, node_id, folder).run_intake()
    else:
        summary = run_inbox_intake(
            cli.config, kind, node_id,  # type: ignore[arg-type]
            pseudonyms=get_pseudonym_service(cli.config),
            reporter=make_platform_reporter(cli.config, node_id),
            node_status=get_platform_node_status(cli.config))
    click.echo(json.dumps(summary, indent=2, sort_keys=True))


@grz.command("run-inbox")
@node_option("GRZ whose inbox to take in.")
@pass_cli
def grz_run_inbox(cli: CliContext, node_id: str) -> None:
    """Take in the GRZ's inbox (``<node dir>/inbox``) and archive what was delivered.

    With the GRZ's service running (``genomlab serve grz --node ID``) the service does it,
    asked with the operator credential in the GRZ's folder; otherwise in-process.
    """
    _run_inbox(cli, "grz", node_id)


@kdk.command("run-inbox")
@node_option("KDK whose inbox to take in.")
@pass_cli
def kdk_run_inbox(cli: CliContext, node_id: str) -> None:
    """Take in the KDK's inbox (``<node dir>/inbox``) and archive what was delivered.

    With the KDK's service running (``genomlab serve kdk --node ID``) the service does it,
    asked with the operator credential in the KDK's folder; otherwise in-process.
    """
    _run_inbox(cli, "kdk", node_id)


commands: list[click.Command] = [grz, kdk]


def _propagate(cli: CliContext, kvnr: str, le_ik: str, on: Any,
               delete: bool) -> None:
    from genomlab.intake import _hail_starter
    from genomlab.intake.propagation import propagate_deletion, propagate_withdrawal

    run = propagate_deletion if delete else propagate_withdrawal
    report = run(cli.config, kvnr=kvnr, le_ik=le_ik, actor=get_operator(),
                 hl=_hail_starter(cli.config)(), on=on.date() if on else None)
    for node, n in sorted({**report.genome_nodes, **report.clinical_nodes}.items()):
        click.echo(f"{node}: {n} dataset(s) erased ({report.reason})")
    click.echo(f"{len(report.notices)} project(s) notified; feasibility index rebuilt")
    for path in report.notices:
        click.echo(f"  {path}")


@consent.command("withdraw-everywhere")
@click.option("--kvnr", prompt="KVNR (unchangeable part)", hide_input=True,
              help="Unchangeable part of the KVNR; prompted without echo if omitted.")
@click.option("--le-ik", required=True, help="IK of the LE that sends the withdrawal.")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD.")
@pass_cli
def consent_withdraw_everywhere(cli: CliContext, kvnr: str, le_ik: str, on: Any) -> None:
    """Withdraw research consent and take the person out of every node's consented store at
    once (compacted), notify the projects holding them and rebuild the feasibility index."""
    _propagate(cli, kvnr, le_ik, on, delete=False)


@consent.command("delete-everywhere")
@click.option("--kvnr", prompt="KVNR (unchangeable part)", hide_input=True,
              help="Unchangeable part of the KVNR; prompted without echo if omitted.")
@click.option("--le-ik", required=True, help="IK of the LE that sends the deletion request.")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD.")
@pass_cli
def consent_delete_everywhere(cli: CliContext, kvnr: str, le_ik: str, on: Any) -> None:
    """Delete the person's data at every node and store (a deletion request), notify the
    projects holding them and rebuild the feasibility index."""
    _propagate(cli, kvnr, le_ik, on, delete=True)
