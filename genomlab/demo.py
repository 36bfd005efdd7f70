"""``genomlab demo``: the main job, run on the embedded default (SQLite + local Spark).

It walks the platform's flow as far as genomlab implements it, step by step with progress, and
ends by printing where the outputs are and how to open JupyterLab and the dashboards. Each step
is idempotent: running the demo twice on the same home appends nothing it already did.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError
from genomlab.institution import Institution, existing_institutions

DEMO_NODES = {"grz": ("GRZK00001", "GRZTUE002"), "kdk": ("KDKTUE005", "KDKTUE002")}


@dataclass
class DemoContext:
    config: GenomlabConfig
    master: str | None
    use_hail: bool
    outputs: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)


def step_initialise_institutions(ctx: DemoContext) -> None:
    """Give every institution its folder, keys and ledger (once)."""
    institutions = [Institution(ctx.config, kind) for kind in
                    ("platform", "trust_center", "data_service")]
    institutions += [Institution(ctx.config, kind, node)  # type: ignore[arg-type]
                     for kind, nodes in DEMO_NODES.items() for node in nodes]
    for inst in institutions:
        ledger = inst.ledger()
        if ledger.head()[0] == 0:
            ledger.append("institution.initialised", {"institution": inst.name,
                                                      "store": inst.store_url.split("://")[0]},
                          actor="genomlab-demo")
    ctx.figures["institutions"] = str(len(institutions))


def step_hail_check(ctx: DemoContext) -> None:
    """Start Hail on the configured master and run sample QC on Hail's own simulator."""
    if not ctx.use_hail:
        ctx.figures["hail"] = "skipped (--no-hail)"
        return
    from genomlab.hail_session import init_hail

    started = time.perf_counter()
    hl = init_hail(ctx.config, master=ctx.master)
    mt = hl.balding_nichols_model(3, 50, 2000, n_partitions=4)
    mt = hl.sample_qc(mt)
    call_rate = mt.aggregate_cols(hl.agg.mean(mt.sample_qc.call_rate))
    if call_rate != 1.0:
        raise GenomlabError(f"Hail self-check failed: mean call rate {call_rate} on complete data")
    ctx.figures["hail"] = (f"ok on {ctx.master or ctx.config.spark.master} "
                           f"({time.perf_counter() - started:.1f} s incl. start-up)")


def step_verify_ledgers(ctx: DemoContext) -> None:
    """Verify every institution's ledger with its public key."""
    bad = []
    total = 0
    for inst in existing_institutions(ctx.config):
        report = inst.ledger().verify()
        total += report.n_events
        if not report.ok:
            bad.append(f"{inst.name}: {report}")
    if bad:
        raise GenomlabError("ledger verification failed: " + "; ".join(bad))
    ctx.figures["ledger events verified"] = str(total)


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("institutions: folders, keys, ledgers", step_initialise_institutions),
    ("Hail on local Spark", step_hail_check),
    ("verify all ledgers", step_verify_ledgers),
]


def run_demo(config: GenomlabConfig, *, master: str | None = None, use_hail: bool = True,
             echo: Callable[[str], None] = click.echo) -> DemoContext:
    """Run every demo step in order; the CLI command and the tests call this."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    ctx = DemoContext(config, master, use_hail)
    config.home.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  transient=True) as progress:
        task = progress.add_task("demo", total=len(STEPS))
        for title, step in STEPS:
            progress.update(task, description=title)
            started = time.perf_counter()
            step(ctx)
            progress.advance(task)
            echo(f"  done  {title}  ({time.perf_counter() - started:.1f} s)")
    return ctx


@click.command()
@click.option("--fresh", is_flag=True, help="Delete the home directory first.")
@click.option("--master", default=None,
              help="Spark master for this run (default: spark.master of the configuration).")
@click.option("--no-hail", is_flag=True, help="Skip the steps that need Hail/Spark.")
@click.pass_obj
def demo(cli: object, fresh: bool, master: str | None, no_hail: bool) -> None:
    """Run the platform flow end to end on the embedded default and say where the results are.

    Uses the home of the configuration (GENOMLAB_HOME, default ./genomlab-home): SQLite stores,
    key files and Hail on local Spark. Safe to re-run; --fresh starts over.
    """
    config: GenomlabConfig = cli.config  # type: ignore[attr-defined]
    if fresh and config.home.exists():
        shutil.rmtree(config.home)
    click.echo(f"genomlab demo: home {config.home}")
    ctx = run_demo(config, master=master, use_hail=not no_hail)
    click.echo("\nResults")
    for name, figure in ctx.figures.items():
        click.echo(f"  {name}: {figure}")
    for name, path in ctx.outputs.items():
        click.echo(f"  {name}: {path}")
    repo = Path(__file__).resolve().parent.parent
    click.echo(
        "\nWhere things are\n"
        f"  home (stores, keys, ledgers): {config.home}\n"
        f"  verify every ledger:          genomlab ledger verify\n"
        "\nOpen them\n"
        f"  JupyterLab:  GENOMLAB_HOME={config.home} .venv/bin/jupyter lab {repo / 'notebooks'}\n"
        f"  dashboards:  GENOMLAB_HOME={config.home} .venv/bin/voila "
        f"{repo / 'notebooks' / 'ledger_health.ipynb'} --port 8866 --no-browser\n"
        "               then open http://127.0.0.1:8866/"
    )
