"""``genomlab grz``: a genome data centre's submissions, detailed-QC selection and quarterly TSVs.

``genomlab grz submit`` needs the trust centre, which this package must not import; it is
added to this group by :mod:`genomlab.intake.cli` (the composition root).
"""

from __future__ import annotations

from pathlib import Path

import click

from genomlab.cli_context import CliContext, node_option, pass_cli, require_node

grz_option = node_option("GRZ id, e.g. GRZK00001.")


@click.group()
def grz() -> None:
    """Genome data centre (GRZ): intake, submission states, detailed-QC sample, reports."""


@grz.command("status")
@grz_option
@click.option("--errors", "only_errors", is_flag=True, help="Only submissions in state error.")
@pass_cli
def status_cmd(cli: CliContext, node_id: str, only_errors: bool) -> None:
    """List the GRZ's submissions with state, failure reason and field."""
    from genomlab.genome_center.intake import GenomeCenter

    rows = GenomeCenter(cli.config, require_node(cli, "grz", node_id)).get_submissions()
    for row in rows:
        if only_errors and row["state"] != "error":
            continue
        failure = (f"  {row['failure_reason']}: {row['failure_field']}"
                   if row["state"] == "error" else "")
        click.echo(f"{row['inbox_id']:<45} {row['state']:<12}{failure}")
    click.echo(f"{len(rows)} submissions")


@grz.command("select-qc")
@grz_option
@pass_cli
def select_qc_cmd(cli: CliContext, node_id: str) -> None:
    """List the submissions selected for detailed QC (BfArM's 2 % sampling rule)."""
    from genomlab.genome_center.intake import GenomeCenter

    rows = [r for r in GenomeCenter(cli.config, require_node(cli, "grz", node_id)).get_submissions()
            if r["selected_for_qc"]]
    for row in rows:
        click.echo(f"{row['inbox_id']}  {row['submitter_id']}  {row['submission_month']}")
    click.echo(f"{len(rows)} selected")


@grz.command("report")
@grz_option
@click.option("--year", type=int, required=True, help="Year of the quarter.")
@click.option("--quarter", type=click.IntRange(1, 4), required=True, help="Quarter 1-4.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for the three TSV files.")
@pass_cli
def report_cmd(cli: CliContext, node_id: str, year: int, quarter: int, out_dir: Path) -> None:
    """Write the quarterly report's three TSVs (overview, per-dataset infos, detailed QC)."""
    from genomlab.genome_center.quarterly import write_quarterly_tsvs

    node_id = require_node(cli, "grz", node_id)
    for path in write_quarterly_tsvs(cli.config, node_id, year=year, quarter=quarter,
                                     out_dir=out_dir):
        click.echo(str(path))


commands: list[click.Command] = [grz]
