"""``genomlab serve KIND [--node ID] [--port P]``: run an institution instance as a service."""

from __future__ import annotations

import click

from genomlab.cli_context import CliContext, node_option, pass_cli
from genomlab.services.runner import SERVICE_KINDS


@click.command("serve")
@click.argument("kind", type=click.Choice([*(k.replace("_", "-") for k in SERVICE_KINDS), "all"]))
@node_option("GRZ…/KDK… id of the node instance to serve (node kinds only).", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on (0: a free port, recorded in <home>/services/).")
@pass_cli
def serve(cli: CliContext, kind: str, node_id: str | None, host: str, port: int) -> None:
    """Serve institution KIND over HTTPS until interrupted (Ctrl-C or SIGTERM).

    KIND all runs every service of the home as local processes on 127.0.0.1.
    """
    from genomlab.services.runner import serve as run_service

    if kind == "all":
        from genomlab.deploy.launch import serve_all

        serve_all(cli.config, announce=click.echo)
        return
    run_service(cli.config, kind.replace("-", "_"), node_id, host=host, port=port,
                announce=lambda line: click.echo(line, err=False))


commands: list[click.Command] = [serve]
