"""The state one ``genomlab`` invocation shares with its subcommands.

Subpackage CLIs import this module, never ``genomlab.cli``: that one is a composition root (it
registers ``genomlab demo``, which wires every institution together), and importing it would let
any institution reach every other one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from genomlab.config import GenomlabConfig, load_config


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
