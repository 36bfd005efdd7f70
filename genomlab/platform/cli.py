"""``genomlab platform``: the Plattformträger's one command group.

Subgroups: ``apply``, ``review`` and ``register`` (data-use applications,
:mod:`genomlab.platform.applications_cli`), ``users`` (platform users and roles,
:mod:`genomlab.platform.users_cli`), ``nodes`` and the Meldebestätigung key and check
with the insurer's status lookup, billing and the hospital CSV
(:mod:`genomlab.platform.nodes_cli`).
"""

from __future__ import annotations

import click

from genomlab.platform.applications_cli import apply, register, review
from genomlab.platform.nodes_cli import (
    bill_confirmation,
    confirmation_key,
    confirmation_status,
    meldebestaetigung_csv,
    nodes,
    verify_confirmation,
)
from genomlab.platform.users_cli import users


@click.group("platform")
def platform_group() -> None:
    """Plattformträger (BfArM): applications, review, register, users, nodes, confirmations."""


for command in (apply, review, register, users, nodes, confirmation_key, verify_confirmation,
                confirmation_status, bill_confirmation, meldebestaetigung_csv):
    platform_group.add_command(command)

commands: list[click.Command] = [platform_group]
