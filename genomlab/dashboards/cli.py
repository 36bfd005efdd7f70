"""``genomlab dashboards``: list and serve the Voila pages (reviewers, operators, the public)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click

from genomlab.dashboards.first_screen import get_voila_command, get_voila_environment
from genomlab.errors import NotFoundError

if TYPE_CHECKING:  # genomlab.cli puts it into ctx.obj
    from genomlab.cli_context import CliContext

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
def list_dashboards() -> None:
    """Name and audience of every dashboard."""
    for name, text in available_dashboards().items():
        click.echo(f"{name:<15} {text}")


@dashboards.command("serve")
@click.argument("name")
@click.option("--port", default=8866, show_default=True, help="Port on 127.0.0.1.")
@click.option("--pool-size", default=1, show_default=True,
              help="Preheated kernels (each has run the page before a visitor asks; 0: none).")
@click.pass_obj
def serve(cli: CliContext, name: str, port: int, pool_size: int) -> None:
    """Serve dashboard NAME with Voila on http://127.0.0.1:PORT/ until interrupted.

    The page uses this command's configuration (its home and stores); the viewer's identity is
    JUPYTERHUB_USER, else local_user of the configuration. Kernels are preheated by default,
    so a visitor does not wait for a kernel to start; each page has a refresh button.
    """
    if name not in available_dashboards():
        choices = ", ".join(available_dashboards())
        raise NotFoundError(f"no dashboard {name!r}; choose from {choices}")
    config = cli.config
    env = get_voila_environment({**os.environ, "GENOMLAB_HOME": str(config.home)})
    if cli.config_path is not None:
        env["GENOMLAB_CONFIG"] = str(cli.config_path.resolve())
    click.echo(f"serving {name} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    preheat = (["--preheat_kernel=True", f"--pool_size={pool_size}"] if pool_size > 0 else [])
    subprocess.run(get_voila_command(NOTEBOOKS / f"{name}.ipynb", port, *preheat), env=env,
                   check=False)


commands = [dashboards]
