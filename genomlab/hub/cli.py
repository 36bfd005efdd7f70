"""``genomlab hub config|start|groups``: JupyterHub configured by genomlab."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from genomlab.cli_context import CliContext, pass_cli
from genomlab.config import CONFIG_ENV
from genomlab.errors import NotFoundError


@click.group("hub")
def hub() -> None:
    """JupyterHub for people: PAM sign-in, one server per person under their own account."""


def _genomlab_config(cli: CliContext, given: Path | None) -> Path:
    for candidate in (given, cli.config_path, os.environ.get(CONFIG_ENV), "genomlab.toml"):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    raise NotFoundError(
        "hub: no genomlab.toml to give every person's server (--genomlab-config PATH, "
        f"--config PATH or ${CONFIG_ENV}); it must name the home and stores"
    )


def hub_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``config`` and ``start`` share."""
    options = [
        click.option(
            "--genomlab-config",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="genomlab.toml every server reads (default: --config "
            "or $GENOMLAB_CONFIG or ./genomlab.toml).",
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="The hub's own folder (database, cookie secret); default <home>/hub.",
        ),
        click.option(
            "--port",
            type=click.IntRange(1, 65535),
            default=8000,
            show_default=True,
            help="The proxy's public port (127.0.0.1).",
        ),
        click.option(
            "--hub-port",
            type=click.IntRange(1, 65535),
            default=8081,
            show_default=True,
            help="The hub's internal port (127.0.0.1).",
        ),
        click.option(
            "--proxy-api-port",
            type=click.IntRange(1, 65535),
            default=8001,
            show_default=True,
            help="The proxy's API port (127.0.0.1).",
        ),
        click.option(
            "--service-port",
            type=click.IntRange(1, 65535),
            default=8002,
            show_default=True,
            help="The genomlab-people hub service's port (127.0.0.1).",
        ),
        click.option(
            "--group-sync-seconds",
            type=click.FloatRange(0.5, 86_400),
            default=60.0,
            show_default=True,
            help="How often the hub's groups are synced from the platform.",
        ),
        click.option(
            "--server-python",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Python of people's servers; every account must be able to run it "
            "(default: this one).",
        ),
        click.option(
            "--server-env",
            multiple=True,
            metavar="KEY=VALUE",
            help="Further environment of people's servers.",
        ),
        click.option(
            "--hub-admin",
            "hub_admins",
            multiple=True,
            help="A hub administrator (may reach others' servers; none by default).",
        ),
        click.option(
            "--network-isolation/--no-network-isolation",
            default=True,
            show_default=True,
            help="Each person's server in its own network namespace, outbound only to "
            "genomlab's services (needs root and `ip`).",
        ),
        click.option(
            "--group-prefix",
            default="genomlab-",
            show_default=True,
            help="Project groups are <prefix>p-<project id> (as genomlab deploy setup).",
        ),
        click.option(
            "--dashboard-kernels",
            type=click.IntRange(0, 8),
            default=1,
            show_default=True,
            help="Warm kernels each person's server keeps for dashboard visits (imports only; "
            "0: a fresh kernel per visit).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings(
    cli: CliContext,
    genomlab_config: Path | None,
    state_dir: Path | None,
    port: int,
    hub_port: int,
    proxy_api_port: int,
    service_port: int,
    group_sync_seconds: float,
    server_python: Path | None,
    server_env: tuple[str, ...],
    hub_admins: tuple[str, ...],
    network_isolation: bool = True,
    group_prefix: str = "genomlab-",
    dashboard_kernels: int = 1,
) -> Any:
    from genomlab.hub.hub_config import HubSettings

    env = {}
    for pair in server_env:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--server-env")
        env[key] = value
    return HubSettings(
        _genomlab_config(cli, genomlab_config),
        (state_dir or cli.config.home / "hub").resolve(),
        port=port,
        hub_port=hub_port,
        proxy_api_port=proxy_api_port,
        service_port=service_port,
        group_sync_seconds=group_sync_seconds,
        python=server_python or Path(sys.executable),
        server_env=env,
        hub_admins=tuple(hub_admins),
        isolate_network=network_isolation,
        group_prefix=group_prefix,
        dashboard_kernels=dashboard_kernels,
    )


@hub.command("config")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write jupyterhub_config.py.",
)
@hub_options
@pass_cli
def hub_config(cli: CliContext, out: Path, **options: Any) -> None:
    """Write the hub's jupyterhub_config.py (run it with: jupyterhub -f OUT, as root)."""
    from genomlab.hub.hub_config import render_hub_config

    settings = _settings(cli, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_hub_config(settings))
    click.echo(f"hub: wrote {out} (proxy {settings.proxy}, state {settings.state_dir})")


@hub.command("start")
@hub_options
@pass_cli
def hub_start(cli: CliContext, **options: Any) -> None:
    """Write <state-dir>/jupyterhub_config.py and run JupyterHub with it (as root)."""
    from genomlab.hub.hub_config import render_hub_config

    settings = _settings(cli, **options)
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.state_dir, 0o700)
    config_file = settings.state_dir / "jupyterhub_config.py"
    config_file.write_text(render_hub_config(settings))
    click.echo(f"hub: http://{settings.ip}:{settings.port}/ (config {config_file})")
    jupyterhub = str(Path(sys.executable).parent / "jupyterhub")
    os.chdir(settings.state_dir)
    os.execv(jupyterhub, [jupyterhub, "-f", str(config_file)])


@hub.command("groups")
@pass_cli
def hub_groups(cli: CliContext) -> None:
    """Print the hub groups the platform's role records give now (JSON)."""
    from genomlab.hub.groups import get_hub_groups

    click.echo(json.dumps(get_hub_groups(cli.config), indent=2))


commands: list[click.Command] = [hub]
