"""``genomlab deploy``: the separated deployment on this machine (run as root).

``setup`` makes an OS account per institution instance and a group per project, anchors the
platform's trusted keys in every other institution's ledger (as ``genomlab ledger anchor``
does), gives each instance's folder to its account (folders 0700, files and keys 0600), each
project's release to its group (read only) and starts the services as their accounts;
``--dry-run`` prints the plan.
A second run changes nothing. ``stop`` stops the services, ``teardown`` also gives the home back
to its former owner and deletes the accounts and groups the set-up made. ``systemd-units``
writes one unit per service instance instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.deploy.layout import DEFAULT_PREFIX
from genomlab.errors import PermissionDenied

prefix_option = click.option(
    "--prefix", default=DEFAULT_PREFIX, show_default=True,
    help="Start of every account and group name: genomlab- or genomlab-<tag>-.")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PermissionDenied(f"deploy {what}: must run as root (makes accounts and changes "
                               "owners); --dry-run shows the plan without")


@click.group("deploy")
def deploy() -> None:
    """Run each institution instance under its own OS account (separated deployment)."""


@deploy.command("setup")
@prefix_option
@click.option("--member-account", "member_accounts", multiple=True, metavar="USER=ACCOUNT",
              help="OS account of a platform user (default: the account of the same name, if "
                   "any). Repeat for each.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--no-start", is_flag=True, help="Set up accounts and folders only (systemd, "
                                               "containers start the services).")
@pass_cli
def setup(cli: CliContext, prefix: str, member_accounts: tuple[str, ...], dry_run: bool,
          no_start: bool) -> None:
    """Create the accounts and groups, set owners and modes, start the services."""
    from genomlab.db import dispose_engines
    from genomlab.deploy import system
    from genomlab.deploy.layout import compute_layout, parse_member_accounts
    from genomlab.deploy.plan import apply_plan, compute_plan

    if not dry_run:
        _require_root("setup")
    layout = compute_layout(cli.config, prefix=prefix,
                            member_accounts=parse_member_accounts(member_accounts),
                            account_exists=lambda name: system.get_uid(name) is not None)
    dispose_engines()  # root holds no store open while the owners change
    for project in layout.projects:
        if project.unmapped:
            click.echo(f"note: project {project.project}: no OS account for "
                       f"{', '.join(project.unmapped)} (no access)")
    steps = compute_plan(cli.config, layout, environ=os.environ, start=not no_start)
    dispose_engines()  # the plan read the holders' ledgers (anchored keys): closed again
    if not steps:
        click.echo(f"nothing to change: {cli.config.home} is set up")
        return
    if dry_run:
        for step in steps:
            click.echo(step.describe())
        click.echo(f"{len(steps)} step(s); nothing changed (--dry-run)")
        return
    apply_plan(cli.config, steps, announce=click.echo)
    click.echo(f"{len(steps)} step(s) done")


@deploy.command("stop")
@pass_cli
def stop(cli: CliContext) -> None:
    """Stop the services that `deploy setup` started."""
    from genomlab.deploy.plan import stop_recorded_services

    _require_root("stop")
    for name in stop_recorded_services(cli.config):
        click.echo(f"stopped {name}")


@deploy.command("teardown")
@pass_cli
def teardown_command(cli: CliContext) -> None:
    """Stop the services, give the home back, delete the accounts and groups setup made."""
    from genomlab.deploy.plan import teardown

    _require_root("teardown")
    teardown(cli.config, announce=click.echo)


@deploy.command("systemd-units")
@prefix_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the units into (then copy to /etc/systemd/system).")
@click.option("--python", default=None, help="Interpreter in ExecStart (default: this one).")
@pass_cli
def systemd_units(cli: CliContext, prefix: str, out: Path, python: str | None) -> None:
    """Write one systemd unit per service instance of the home, and genomlab.target."""
    import sys

    from genomlab.deploy.systemd import write_units

    for path in write_units(cli.config, out, prefix=prefix, python=python or sys.executable):
        click.echo(str(path))


commands: list[click.Command] = [deploy]
