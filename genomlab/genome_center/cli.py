"""``genomlab grz``: a genome data centre's submissions, detailed-QC selection and quarterly TSVs.

``genomlab grz submit`` needs the trust centre, which this package must not import; it is
added to this group by :mod:`genomlab.intake.cli` (the composition root).
"""

from __future__ import annotations

from pathlib import Path

import click

from genomlab.cli_context import CliContext, node_option, pass_cli, require_node
from genomlab.cli_output import OutputFormat, echo_rows, format_option

grz_option = node_option("GRZ id, e.g. GRZK00001.")


@click.group()
def grz() -> None:
    """Genome data centre (GRZ): intake, submission states, detailed-QC sample, reports."""


@grz.command("status")
@grz_option
@click.option("--errors", "only_errors", is_flag=True, help="Only submissions in state error.")
@format_option()
@pass_cli
def status_cmd(cli: CliContext, node_id: str, only_errors: bool,
               output_format: OutputFormat) -> None:
    """List the GRZ's submissions with state, failure reason and field."""
    from genomlab.genome_center.intake import GenomeCenter

    rows = GenomeCenter(cli.config, require_node(cli, "grz", node_id)).get_submissions()
    shown = [r for r in rows if not only_errors or r["state"] == "error"]
    echo_rows(shown, [("inbox_id", "Submission (inbox)"), ("state", "State"),
                      ("failure_reason", "Failure"), ("failure_field", "Field")],
              output_format, footer=f"{len(rows)} submissions")


@grz.command("select-qc")
@grz_option
@format_option()
@pass_cli
def select_qc_cmd(cli: CliContext, node_id: str, output_format: OutputFormat) -> None:
    """List the submissions selected for detailed QC (grz-db's selection, BfArM's 2 % rule)."""
    from genomlab.genome_center.intake import GenomeCenter

    rows = [r for r in GenomeCenter(cli.config, require_node(cli, "grz", node_id)).get_submissions()
            if r["selected_for_qc"]]
    echo_rows(rows, [("inbox_id", "Submission (inbox)"), ("submitter_id", "Submitter (LE)"),
                     ("submission_month", "Month")], output_format,
              footer=f"{len(rows)} selected")


@grz.command("report")
@grz_option
@click.option("--year", type=int, required=True, help="Year of the quarter.")
@click.option("--quarter", type=click.IntRange(1, 4), required=True, help="Quarter 1-4.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for the four TSV files.")
@pass_cli
def report_cmd(cli: CliContext, node_id: str, year: int, quarter: int, out_dir: Path) -> None:
    """Write the quarterly report: ``grzctl report quarterly``'s three TSVs over the GRZ's grz-db
    and genomlab's table of research-consent revocations and deletions (from its ledger)."""
    from genomlab.genome_center.grzctl_report import write_quarterly_report

    node_id = require_node(cli, "grz", node_id)
    for path in write_quarterly_report(cli.config, node_id, year=year, quarter=quarter,
                                       out_dir=out_dir):
        click.echo(str(path))


commands: list[click.Command] = [grz]
