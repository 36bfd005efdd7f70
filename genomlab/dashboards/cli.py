"""``genomlab dashboards``: list and serve the Voila pages (reviewers, operators, the public)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.dashboards.first_screen import get_voila_command, get_voila_environment
from genomlab.errors import GenomlabError, NotFoundError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DASHBOARDS = {
    "ledger_health": "operators: every institution's ledger, verified",
    "platform": "operators: submissions, QC pass rates, confirmations per node",
    "approvals": "handlers, committee, deciders: application queue and decisions",
    "register": "the public: projects, purposes, decisions, results",
    "airlock": "output checkers: release requests, checks, approve / reject",
}


def available_dashboards() -> dict[str, str]:
    """The dashboards whose notebook exists in this checkout, with their audience."""
    return {name: text for name, text in DASHBOARDS.items()
            if (NOTEBOOKS / f"{name}.ipynb").is_file()}


@click.group()
def dashboards() -> None:
    """List and serve the Voila dashboards."""


@dashboards.command("list")
@format_option()
def list_dashboards(output_format: OutputFormat) -> None:
    """Name and audience of every dashboard."""
    echo_rows([{"name": name, "audience": text} for name, text in available_dashboards().items()],
              [("name", "Dashboard"), ("audience", "For whom")], output_format)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""Signals that stop a served dashboard: passed on to Voila, which shuts its kernels down."""


def run_until_signalled(command: list[str], env: dict[str, str]) -> tuple[int, int | None]:
    """Run ``command``; pass on a stop signal to it and wait until it has ended.

    Returns its exit status and the stop signal received, if any. Without this, SIGTERM (what
    systemd, Docker and ``kill`` send) ended this process alone and left Voila and its
    preheated kernels running, holding the port.
    """
    child = subprocess.Popen(command, env=env)
    received: list[int] = []

    def pass_on(signum: int, _frame: object) -> None:
        received.append(signum)
        child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, pass_on) for s in STOP_SIGNALS}
    try:
        returncode = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return returncode, (received[0] if received else None)


@dashboards.command("serve")
@click.argument("name")
@click.option("--port", default=8866, show_default=True, help="Port on 127.0.0.1.")
@click.option("--pool-size", default=1, show_default=True,
              help="Preheated kernels (each has run the page before a visitor asks; 0: none).")
@pass_cli
def serve(cli: CliContext, name: str, port: int, pool_size: int) -> None:
    """Serve dashboard NAME with Voila on http://127.0.0.1:PORT/ until interrupted.

    The page uses this command's configuration (its home and stores); the viewer's identity is the
    verified person of the credentials file in this command's environment
    ($GENOMLAB_CREDENTIALS, else ~/.genomlab/credentials.json). Kernels are preheated by default,
    so a visitor does not wait for a kernel to start; each page has a refresh button.
    SIGTERM, SIGINT or SIGHUP stop Voila and its kernels before this command ends.

    Exits 1 when Voila fails, for example when PORT is taken (Voila is told not to move to
    another port, so the page is where this command says it is).
    """
    if name not in available_dashboards():
        choices = ", ".join(available_dashboards())
        raise NotFoundError(f"no dashboard {name!r}; choose from {choices}")
    env = get_voila_environment({**os.environ, "GENOMLAB_HOME": str(cli.config.home)})
    if cli.config_path is not None:
        env["GENOMLAB_CONFIG"] = str(cli.config_path.resolve())
    click.echo(f"serving {name} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    preheat = (["--preheat_kernel=True", f"--pool_size={pool_size}"] if pool_size > 0 else [])
    command = get_voila_command(NOTEBOOKS / f"{name}.ipynb", port, "--Voila.port_retries=0",
                                *preheat)
    returncode, stopped_by = run_until_signalled(command, env)
    if stopped_by is not None:
        click.echo(f"stopped {name} ({signal.Signals(stopped_by).name})")
        return
    if returncode != 0:
        raise GenomlabError(f"voila stopped with exit status {returncode} while serving {name} "
                            f"on port {port} (its log is above)")


commands = [dashboards]
