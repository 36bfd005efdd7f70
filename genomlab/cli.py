"""The ``genomlab`` command: one entry point, one command group per institution.

This module is a composition root (it registers ``genomlab demo``); subpackages import
:mod:`genomlab.cli_context` instead, never this module.

Each subpackage that offers commands has a ``cli`` module with a ``commands`` list of click
commands or groups; they are found here, so adding a group touches only its own subpackage.
Those modules import heavy libraries (Hail, polars) inside the commands, so ``--help`` is fast.

Every refusal or failure ends with ``Error: <one-line reason>`` on stderr and a non-zero exit.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, NamedTuple

import click

from genomlab import __version__
from genomlab.cli_context import CliContext, pass_cli
from genomlab.cli_output import OutputFormat, echo_rows, format_option
from genomlab.config import ConfigError
from genomlab.errors import GenomlabError, PermissionDenied
from genomlab.faults import describe_fault
from genomlab.glossary import GLOSSARY, get_glossary_help
from genomlab.home import restrict_file_modes

COMMAND_PACKAGES = (
    "genomlab.samples",
    "genomlab.trust_center",
    "genomlab.genome_center",
    "genomlab.clinical_node",
    "genomlab.platform",
    "genomlab.data_service",
    "genomlab.workspace",
    "genomlab.airlock",
    "genomlab.federation",
    "genomlab.reports",
    "genomlab.dashboards",
    "genomlab.intake",
    "genomlab.admin",
    "genomlab.services",
    "genomlab.deploy",
    "genomlab.hub",
)
"""The subpackages whose ``cli`` module exports ``commands`` (``genomlab``'s top-level ones)."""


class LazyCommand(NamedTuple):
    """Where a top-level command comes from, and its one-line help for ``genomlab --help``."""

    modules: tuple[str, ...]
    summary: str


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "samples": LazyCommand(("genomlab.samples.cli",),
        "Synthetic genomDE worlds: genotypes, submissions, records and a truth file."),
    "trust-center": LazyCommand(("genomlab.trust_center.cli", "genomlab.intake.cli"),
        "Vertrauensstelle: case numbers, consent, linkage maps, re-identification, keys, audit."),
    "grz": LazyCommand(("genomlab.genome_center.cli", "genomlab.intake.cli"),
        "Genome data centre (GRZ): intake, submission states, detailed-QC sample, reports."),
    "kdk": LazyCommand(("genomlab.clinical_node.cli", "genomlab.intake.cli"),
        "Clinical data node (KDK): intake of clinical records, record states."),
    "platform": LazyCommand(("genomlab.platform.cli",),
        "Plattformträger (BfArM): applications, review, register, users, nodes, confirmations."),
    "data-service": LazyCommand(("genomlab.data_service.cli",),
        "Datendienst: feasibility counts (Beacon v2), the feasibility index, releases."),
    "workspace": LazyCommand(("genomlab.workspace.cli",),
        "The researcher's workspace: cohort QC and association analysis on Hail."),
    "airlock": LazyCommand(("genomlab.airlock.cli",),
        "Output checking: disclosure checks and two-reviewer release of workspace outputs."),
    "federation": LazyCommand(("genomlab.federation.cli",),
        "Analyses across platforms (1+Million Genomes) from released summary statistics."),
    "reports": LazyCommand(("genomlab.reports.cli",),
        "Scheduled papermill reports: HTML without code plus tables; public ones pass SDC checks."),
    "dashboards": LazyCommand(("genomlab.dashboards.cli",),
        "List and serve the Voila dashboards."),
    "db": LazyCommand(("genomlab.admin.cli",),
        "Schema revisions of the institution stores (Alembic migrations)."),
    "serve": LazyCommand(("genomlab.services.cli",),
        "Serve institution KIND over HTTPS until interrupted (Ctrl-C or SIGTERM)."),
    "deploy": LazyCommand(("genomlab.deploy.cli",),
        "Run each institution instance under its own OS account (separated deployment)."),
    "hub": LazyCommand(("genomlab.hub.cli",),
        "JupyterHub for people: PAM sign-in, one server per person under their own account."),
    "demo": LazyCommand(("genomlab.demo",),
        "Run the platform flow end to end on the embedded default and say where the results are."),
}
"""Each top-level command of a subpackage, the modules that make it (the first exports it;
``genomlab.intake.cli`` adds ``submit``, ``run-inbox`` and the consent propagation to the node
and trust-centre groups). A command's modules are imported only when it is invoked or listed,
and its summary (``genomlab --help`` lists the commands without importing them). A
command's modules are imported only when it is invoked, so ``genomlab serve`` does not pay for
jsonschema, pandas or Hail it never uses (importing all of them took 3 s on a quiet machine and
8 s under load, in every ``genomlab`` process). ``tests/test_cli_options.py`` checks this table
against ``COMMAND_PACKAGES`` and the commands' own help."""


def get_lazy_command(name: str) -> click.Command:
    """The top-level command ``name`` of :data:`LAZY_COMMANDS`, its modules imported."""
    first, *more = LAZY_COMMANDS[name].modules
    module = importlib.import_module(first)
    for extra in more:
        importlib.import_module(extra)
    found = [c for c in getattr(module, "commands", [getattr(module, "demo", None)])
             if c is not None and c.name == name]
    if not found:
        raise RuntimeError(f"genomlab.cli.LAZY_COMMANDS: {first} exports no command {name!r}")
    return found[0]


class GenomlabGroup(click.Group):
    """Turns genomlab's own errors and resource faults into a one-line ``Error:`` and exit 1.

    Resource faults (disk full, quota, open files, read-only, permission on a path, memory) are
    named by :func:`genomlab.faults.describe_fault`; any other exception keeps its traceback.
    The subpackages' commands are loaded when first asked for (:data:`LAZY_COMMANDS`).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(get_lazy_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from :data:`LAZY_COMMANDS` for commands not loaded."""
        stubs = {name: click.Command(name, help=lazy.summary)
                 for name, lazy in LAZY_COMMANDS.items() if name not in self.commands}
        shown = [(name, self.commands.get(name) or stubs[name])
                 for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in shown if not command.hidden]
        if shown:  # as click.Group.format_commands lays it out
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            rows = [(name, command.get_short_help_str(limit)) for name, command in shown]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def load_all_commands(self) -> dict[str, click.Command]:
        """Every command, all modules imported (what ``self.commands`` then holds)."""
        for name in LAZY_COMMANDS:
            self.get_command(click.Context(self), name)
        return dict(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (GenomlabError, ConfigError) as exc:
            raise click.ClickException(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc
        except Exception as exc:
            fault = describe_fault(exc)
            if fault is None:
                raise
            raise click.ClickException(fault) from exc


@click.group(cls=GenomlabGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=get_glossary_help())
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="genomlab.toml to use (default: $GENOMLAB_CONFIG, then ./genomlab.toml).",
)
@click.version_option(__version__, prog_name="genomlab")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """genomlab: the research environment of the genomDE platform (§ 64e SGB V).

    Institutions keep separate stores and keys under one home (GENOMLAB_HOME); every state
    change is an event in the institution's signed ledger.
    """
    restrict_file_modes()  # what a command writes (stores, outputs, exports) is owner-only
    ctx.obj = CliContext(config_path)


@main.command("glossary")
@click.argument("term", required=False)
@format_option()
def glossary(term: str | None, output_format: OutputFormat) -> None:
    """The German terms of the law genomlab keeps (Prüfbericht, Meldebestätigung, tanG, ...),
    each explained in English; with TERM only that one."""
    def names(t: str, g: str) -> set[str]:
        return {t.lower(), g.lower(), *(part.strip().lower() for part in t.split("/"))}

    rows = [{"term": t, "german": g, "english": e} for t, g, e in GLOSSARY
            if term is None or term.strip().lower() in names(t, g)]
    if term is not None and not rows:
        raise GenomlabError(f"no glossary entry {term!r} (known: "
                            f"{', '.join(t for t, _, _ in GLOSSARY)})")
    echo_rows(rows, [("term", "Term"), ("german", "German"), ("english", "Meaning in English")],
              output_format)


@main.group()
def config() -> None:
    """Show and check the configuration."""


@config.command("show")
@pass_cli
def config_show(cli: CliContext) -> None:
    """Print the effective configuration (file + GENOMLAB_* overrides) as JSON."""
    click.echo(cli.config.model_dump_json(indent=2))


@config.command("check")
@pass_cli
def config_check(cli: CliContext) -> None:
    """Validate the configuration; exit 1 with the offending key if it is invalid."""
    cfg = cli.config
    click.echo(f"ok: home {cfg.home}, spark {cfg.spark.master}")


@main.group()
def ledger() -> None:
    """Inspect and verify the institutions' signed event ledgers."""


@ledger.command("verify")
@click.option(
    "--institution",
    "-i",
    "names",
    multiple=True,
    help="platform, trust_center, data_service, grz:<id> or kdk:<id>; default: all in the home.",
)
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify with this PEM public key only (what an auditor holds).")
@click.option("--full", is_flag=True,
              help="Also check every event's own signature (slower; default: checkpoints + head).")
@pass_cli
def ledger_verify(
    cli: CliContext, names: tuple[str, ...], public_key: Path | None, full: bool
) -> None:
    """Check hash links, hashes, signatures, checkpoints and the signed head; name the first bad
    event; then replay each ledger and compare the current-state tables with what it implies;
    for the whole home, check every anchor (``ledger anchor``) against the anchored ledger.

    Exits 1 if any ledger is broken.
    """
    from genomlab.db import get_engine
    from genomlab.institution import (
        existing_institutions,
        get_existing_institution,
        parse_institution,
    )
    from genomlab.keys import key_id, load_public_key
    from genomlab.ledger import projection_matches, verify_ledger
    from genomlab.ledgers import LEDGER_SPECS

    institutions = ([get_existing_institution(parse_institution(cli.config, n)) for n in names]
                    if names
                    else existing_institutions(cli.config))
    if not institutions:
        raise GenomlabError(f"no institution found under {cli.config.home}")
    broken = []
    for inst in institutions:
        if public_key is not None:
            pub = load_public_key(public_key.read_bytes())
        else:
            pub_path = inst.directory / "keys" / "ledger.pub.pem"
            if not pub_path.exists():
                raise GenomlabError(f"{inst.name}: no ledger public key at {pub_path}")
            pub = load_public_key(pub_path.read_bytes())
        engine = get_engine(inst.store_url)
        report = verify_ledger(engine, {key_id(pub): pub}, full=full)
        click.echo(f"{inst.name}: {report}")
        if not report.ok:
            broken.append(f"{inst.name} at seq {report.first_bad_seq}")
            continue
        differing = [table for projection in LEDGER_SPECS[inst.kind].projections
                     for table in projection_matches(engine, projection)]
        if differing:
            click.echo(f"{inst.name}: BROKEN: tables differ from what the events imply: "
                       f"{', '.join(differing)}")
            broken.append(f"{inst.name} tables {', '.join(differing)}")
    if not names:  # the whole home: every anchor any institution recorded must still hold
        from genomlab.anchors import find_anchor_faults

        faults = find_anchor_faults(cli.config)
        for fault in faults:
            click.echo(f"BROKEN anchor: {fault}")
        broken += [f"{len(faults)} anchor(s)"] if faults else []
        from genomlab.anchors import find_key_faults

        swapped = find_key_faults(cli.config)
        for fault in swapped:
            click.echo(f"BROKEN trusted key: {fault}")
        broken += [f"{len(swapped)} trusted key(s)"] if swapped else []
    if broken:
        raise GenomlabError("ledger broken: " + ", ".join(broken))


@ledger.command("anchor")
@pass_cli
def ledger_anchor(cli: CliContext) -> None:
    """Record every institution's signed head in its partner's ledger (the platform anchors
    everyone, the trust centre anchors the platform), so a rewritten history is caught by
    ``ledger verify`` even when it is signed again. Run it after each batch of work (cron).
    First, the fingerprints of the platform's trusted keys (token and approval key) are
    anchored in every other institution's ledger that has none yet (or whose anchored one a
    recorded rotation replaced), and approvals in force still signed with a rotated-away
    approval key are signed again (both complete a ``rotate-key`` that stopped half-way)."""
    from genomlab.anchors import anchor_heads, anchor_trusted_keys, resign_approvals
    from genomlab.cli_context import get_operator

    for pinned in anchor_trusted_keys(cli.config):
        click.echo(f"{pinned.owner}'s {pinned.key} key {pinned.fingerprint} anchored in "
                   f"{pinned.holder}")
    try:
        _echo_resigned(resign_approvals(cli.config, actor=get_operator()))
    except PermissionDenied as exc:  # the heads are anchored all the same; named, not hidden
        click.echo(f"approvals not signed again: {exc}", err=True)
    anchors = anchor_heads(cli.config)
    for anchor in anchors:
        click.echo(f"{anchor.institution}: head {anchor.seq} anchored in {anchor.partner}")
    click.echo(f"{len(anchors)} head(s) anchored")


def _echo_resigned(resigned: list[Any]) -> None:
    for approval in resigned:
        click.echo(f"approval {approval.application_id} ({approval.project_id}) signed again: "
                   f"{approval.old_fingerprint} -> {approval.new_fingerprint} "
                   "(approval.resigned in platform's ledger)")


ROTATABLE_KEYS = {"platform-token": "oauth", "platform-approval": "approval"}
"""``ledger rotate-key`` names -> the platform's key (``trusted_keys.TRUSTED_KEYS``)."""


@ledger.command("rotate-key")
@click.argument("key", type=click.Choice(sorted(ROTATABLE_KEYS)))
@click.option("--reason", required=True, help="Why the key is replaced (recorded).")
@pass_cli
def ledger_rotate_key(cli: CliContext, key: str, reason: str) -> None:
    """Replace the platform's access-token key (platform-token) or approval key
    (platform-approval) by a new pair: records ``key.rotated`` (old and new fingerprint) in the
    platform's ledger and anchors the new fingerprint in every other institution's ledger; a
    new approval key signs every approval still in force again (``approval.resigned``). The
    old key is refused from then on (tokens, ended approvals and revocations it signed stop
    verifying); running services take the new key at its next use, without a restart."""
    from genomlab.anchors import rotate_platform_key
    from genomlab.cli_context import get_operator

    rotation = rotate_platform_key(cli.config, ROTATABLE_KEYS[key], actor=get_operator(),
                                   reason=reason)
    click.echo(f"platform's {rotation.key} key rotated: {rotation.old} -> {rotation.new} "
               "(key.rotated in platform's ledger)")
    for pinned in rotation.anchors:
        click.echo(f"{pinned.owner}'s {pinned.key} key {pinned.fingerprint} anchored in "
                   f"{pinned.holder} (replaces {pinned.replaces})")
    _echo_resigned(rotation.resigned)
    if rotation.key == "approval":
        click.echo(f"{len(rotation.resigned)} approval(s) in force signed again")


@ledger.command("show")
@click.option("--institution", "-i", "name", required=True, help="e.g. platform or grz:GRZK00001")
@click.option("--tail", default=20, show_default=True, help="How many of the latest events.")
@click.option("--type", "type_", default=None, help="Only events of this type.")
@format_option()
@pass_cli
def ledger_show(cli: CliContext, name: str, tail: int, type_: str | None,
                output_format: OutputFormat) -> None:
    """Print the latest events of one institution's ledger."""
    from collections import deque

    from genomlab.institution import get_existing_institution, parse_institution

    inst = get_existing_institution(parse_institution(cli.config, name))
    events = deque(inst.ledger().events(type=type_), maxlen=tail)
    echo_rows([{"seq": e.seq, "recorded_at": e.recorded_at, "actor": e.actor, "type": e.type,
                "stream": e.stream} for e in events],
              [("seq", "Seq"), ("recorded_at", "Recorded (UTC)"), ("actor", "Actor"),
               ("type", "Event type"), ("stream", "Stream")], output_format)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
