"""The state one ``genomlab`` invocation shares with its subcommands, and the options every
command group spells the same way.

Subpackage CLIs import this module, never ``genomlab.cli``: that one is a composition root (it
registers ``genomlab demo``, which wires every institution together), and importing it would let
any institution reach every other one.

No command takes a person's name (issue 15): a person-facing command acts as the verified
subject of a credentials file, ``--credentials FILE`` (:func:`credentials_option`; else
``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``; :func:`get_acting_person`), and
an operator command records ``operator:<OS account>`` (:func:`get_operator`). Every command that
names a data node takes it as ``--node`` (parameter ``node_id``, :func:`node_option`), so no
group invents another spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from genomlab.config import GenomlabConfig, NodeKind, load_config

CREDENTIALS_OPTION = "--credentials"
"""The one spelling of a person's credentials file option (issued by the platform's operator)."""
NODE_OPTION = "--node"
"""The one spelling of a data node's id option (GRZ…, KDK…), in every command group."""

CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])


@dataclass
class CliContext:
    """Shared state of one CLI invocation: the configuration, loaded on first use."""

    config_path: Path | None = None
    _config: GenomlabConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> GenomlabConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_cli = click.make_pass_decorator(CliContext)
"""Passes the invocation's :class:`CliContext` as the command's first argument."""


def credentials_option() -> Callable[[CommandFunction], CommandFunction]:
    """``--credentials FILE``, passed as ``credentials`` (``None``: ``$GENOMLAB_CREDENTIALS``,
    else ``~/.genomlab/credentials.json``). Who acts is the credential's verified subject."""
    return click.option(
        CREDENTIALS_OPTION, "credentials", default=None,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Your credentials file (default: $GENOMLAB_CREDENTIALS, else "
             "~/.genomlab/credentials.json); you act as the person it was issued to.")


def get_acting_person(cli: CliContext, credentials: Path | None) -> str:
    """The user id of the verified person of ``credentials`` (else ``$GENOMLAB_CREDENTIALS``,
    else ``~/.genomlab/credentials.json``), checked against the platform (its service when it
    runs, else its store); no name in the environment counts."""
    from genomlab.platform.person_session import get_verified_user

    return get_verified_user(cli.config, credentials)


def get_operator() -> str:
    """The ledger actor of an operator command: ``operator:<OS account>`` (effective uid). An
    operator's credential is access to the institution's folder and store."""
    from genomlab.platform.person_credentials import get_operator_actor

    return get_operator_actor()


def require_node(cli: CliContext, kind: NodeKind, node_id: str) -> str:
    """``node_id`` if that node exists under the home; otherwise a one-line refusal listing the
    known ones (commands that read call this first, so a typo creates no store or key)."""
    from genomlab.institution import Institution, get_existing_institution

    get_existing_institution(Institution(cli.config, kind, node_id))
    return node_id


def node_option(
    help_text: str, *, required: bool = True
) -> Callable[[CommandFunction], CommandFunction]:
    """``--node ID``, passed as ``node_id`` (``None`` when optional and not given)."""
    return click.option(NODE_OPTION, "node_id", required=required, default=None, help=help_text)
