"""The GRZ's quarterly report: BfArM's ``grzctl report quarterly`` over the GRZ's grz-db (issue 17).

grz-db (``<GRZ>/grzctl/grz-db.sqlite``, :mod:`genomlab.genome_center.grz_record`) is the GRZ's
submission record on both intake paths, so grzctl's own report is the GRZ's report on both:

- grzctl path: the GRZ's grzctl configuration (``<GRZ>/grzctl/grzctl.yaml``, written by
  :meth:`genomlab.genome_center.grzctl_pipeline.GrzctlPipeline.set_up`) is used as it is;
- in-process path (no grzctl set-up): a minimal configuration that grzctl's ``GrzctlConfig``
  accepts is written to ``<GRZ>/grzctl/grzctl-report.yaml`` (0600, JSON, which is YAML) by
  :func:`report_config`. ``report quarterly`` reads only ``identifiers.grz`` and
  ``db.database_url`` (grzctl's ``report`` group); the model requires more, and those values are
  placeholders the report never uses (see :data:`PLACEHOLDER`).

grzctl writes its three TSVs (``1-Gesamtübersicht``, ``2-Infos_zu_Datensätzen``,
``3-Detailprüfung``, ``_<GRZ>_<quarter>_<year>.tsv``). What grz-db cannot know, genomlab adds as
one extra TSV from the GRZ's own ledger (:data:`WITHDRAWALS_FILE`): the research-consent
revocations and deletions recorded in the quarter
(:func:`genomlab.node_quarterly.count_revocations_and_deletions`; an empty cell: not tracked).

Examples
--------
>>> cfg = report_config(grz_id="GRZK00001", database_url="sqlite:////g/grz-db.sqlite",
...                     known_public_key="ssh-ed25519 AAAA genomlab-grz")
>>> cfg["identifiers"], cfg["db"]["database_url"]
({'grz': 'GRZK00001'}, 'sqlite:////g/grz-db.sqlite')
>>> cfg["pruefbericht"]["api_base_url"]
'https://pruefbericht.invalid/'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.genome_center.grz_record import GRZDB_FOLDER, GrzDb, get_grz_db_url
from genomlab.genome_center.grz_tool_runner import run_grz_tool
from genomlab.genome_center.grz_tools import (
    LOOPBACK_NO_PROXY,
    require_grz_tool,
    write_grz_cli_config,
)
from genomlab.genome_center.grzctl_pipeline import (
    GRZCTL_AUTHOR,
    GRZCTL_QUARTERLY_FILES,
    GrzctlFailed,
    get_grzctl_errors,
    make_db_author,
    read_grzctl_quarterly,
)
from genomlab.genome_center.store import GENOME_CENTER_LEDGER
from genomlab.institution import Institution
from genomlab.node_quarterly import (
    count_revocations_and_deletions,
    get_quarter_bounds,
    write_tsv_tables,
)

PIPELINE_CONFIG = "grzctl.yaml"
"""The grzctl path's full configuration in ``<GRZ>/grzctl/``."""

REPORT_CONFIG = "grzctl-report.yaml"
"""The in-process path's minimal configuration for ``grzctl report`` in ``<GRZ>/grzctl/``."""

PLACEHOLDER = "placeholder-unused-by-grzctl-report"
"""The value of every field ``GrzctlConfig`` requires and ``grzctl report`` never reads: the
submitter's inbox (bucket, Crypt4GH private key: only download/decrypt use them), the archives
(bucket, public key: only encrypt/archive) and the Prüfbericht API (URLs on the reserved
``.invalid`` domain, client: only ``pruefbericht submit``)."""

PLACEHOLDER_PUBLIC_KEY = ("-----BEGIN CRYPT4GH PUBLIC KEY-----\n" + PLACEHOLDER
                          + "\n-----END CRYPT4GH PUBLIC KEY-----\n")
"""grz-common checks only the markers of a public key given as text; this one is never loaded."""

WITHDRAWALS_FILE = "4-genomlab_Widerrufe_Löschungen"
"""genomlab's extra table beside grzctl's three (``<name>_<GRZ>_<quarter>_<year>.tsv``)."""


def report_config(*, grz_id: str, database_url: str, known_public_key: str,
                  author_name: str = GRZCTL_AUTHOR) -> dict[str, Any]:
    """The minimal ``GrzctlConfig`` for ``grzctl report``: the GRZ's id and grz-db (used), the
    grz-db author's name and public key (the one that signed the state log; no private key: the
    report writes nothing), and :data:`PLACEHOLDER` wherever the model requires a value."""
    return {
        "identifiers": {"grz": grz_id},
        "db": {"database_url": database_url, "author": {"name": author_name},
               "known_public_keys": [known_public_key]},
        "leistungserbringer": {PLACEHOLDER: {"inbox_buckets": {"inbox": {
            "bucket": PLACEHOLDER, "private_key": PLACEHOLDER}}}},
        "archives": {name: {"s3": {"bucket": f"{PLACEHOLDER}-{name}"},
                            "public_key": PLACEHOLDER_PUBLIC_KEY}
                     for name in ("consented", "non_consented")},
        "pruefbericht": {"authorization_url": "https://pruefbericht.invalid/token",
                         "api_base_url": "https://pruefbericht.invalid/",
                         "client_id": PLACEHOLDER, "client_secret": PLACEHOLDER},
    }


def get_report_config_file(grz_directory: Path, grz_id: str) -> Path:
    """The grzctl configuration to report with: the grzctl path's own if the GRZ has one, else
    the minimal one (written, 0600, atomically; its grz-db made with grz-db's schema if new)."""
    folder = grz_directory / GRZDB_FOLDER
    if (folder / PIPELINE_CONFIG).is_file():
        return folder / PIPELINE_CONFIG
    GrzDb.for_grz(grz_directory)  # the in-process path's grz-db, at grz-db's latest schema
    author = make_db_author(folder / "keys")
    return write_grz_cli_config(folder / REPORT_CONFIG, report_config(
        grz_id=grz_id, database_url=get_grz_db_url(grz_directory),
        known_public_key=author.known_public_key))


def grzctl_report_env(config_file: Path) -> dict[str, str]:
    """grzctl's environment: no ``GRZ_``/``AWS_``/``C4GH_`` variables (pydantic-settings would
    let them override the configuration), no user configuration, no proxy for loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "C4GH_", "GRZ_"))}
    env["XDG_CONFIG_HOME"] = str(config_file.parent / ".xdg")
    no_proxy = ",".join(p for p in (env.get("NO_PROXY"), LOOPBACK_NO_PROXY) if p)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def find_grzctl() -> Path:
    """``grzctl``: ``$GENOMLAB_GRZCTL``, the repository's ``.grzctl-venv`` or ``PATH``."""
    return require_grz_tool("grzctl", [Path(__file__).resolve().parents[2]],
                            override=os.environ.get("GENOMLAB_GRZCTL"))


def write_quarterly_report(config: GenomlabConfig, node_id: str, *, year: int, quarter: int,
                           out_dir: Path, grzctl: Path | None = None) -> list[Path]:
    """Run ``grzctl report quarterly --with-submission-ids`` over GRZ ``node_id``'s grz-db into
    ``out_dir`` (made if missing) and add genomlab's withdrawals table; returns the four paths.

    :raises GrzctlFailed: naming the command and grzctl's error if grzctl fails.
    :raises genomlab.genome_center.grz_tools.GrzToolMissing: if grzctl is not installed.
    """
    institution = Institution(config, "grz", node_id)
    tool = grzctl or find_grzctl()
    config_file = get_report_config_file(institution.directory, node_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["report", "quarterly", "--year", str(year), "--quarter", str(quarter),
            "--outdir", str(out_dir), "--with-submission-ids"]
    done = run_grz_tool(tool, ["--config", str(config_file), *args],
                        env=grzctl_report_env(config_file))
    if done.returncode != 0:
        raise GrzctlFailed(f"grzctl {' '.join(args)} (config {config_file}): exit "
                           f"{done.returncode}: {get_grzctl_errors(done)[-1500:]}")
    read_grzctl_quarterly(out_dir, node_id, year, quarter)  # checks all three were written
    paths = [out_dir / f"{name}_{node_id}_{quarter}_{year}.tsv"
             for name in GRZCTL_QUARTERLY_FILES.values()]
    ledger = institution.ledger(GENOME_CENTER_LEDGER)
    withdrawals = {"grz": node_id, "year": year, "quarter": quarter,
                   **count_revocations_and_deletions(ledger, "grz",
                                                     get_quarter_bounds(year, quarter))}
    return [*paths, *write_tsv_tables({"withdrawals": [withdrawals]},
                                      {"withdrawals": WITHDRAWALS_FILE}, out_dir,
                                      f"{node_id}_{quarter}_{year}")]
