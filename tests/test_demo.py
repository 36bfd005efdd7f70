"""``genomlab demo`` and the CLI surface."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.clients.oauth import get_credentials_path, load_client_credentials
from genomlab.clock import ticking_from, use_clock
from genomlab.demo import QC_WORLD, run_demo
from genomlab.deploy.launch import get_service_instances
from genomlab.institution import Institution, existing_institutions
from genomlab.intake.official import find_official_tools
from tests.conftest import DemoRun, config_for
from tests.file_modes import list_open_to_others


def test_cli_help__lists_the_command_groups() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for group in ("config", "ledger", "demo"):
        assert f"\n  {group} " in result.output


def test_cli_demo_help__documents_its_options() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--fresh", "--master", "--no-hail", "--world"):
        assert option in result.output


@pytest.mark.hail
@pytest.mark.slow
@pytest.mark.timeout(3600)  # on BfArM's tools: ≈ 11 grzctl processes per GRZ submission
def test_run_demo__whole_flow_on_the_committed_world_and_idempotent(
    hl: Any, demo_run: DemoRun
) -> None:
    """The session's demo run (``demo_run``: shared with the researcher-notebook test, which
    works on a copy of the home), then a second run on the same home changes no ledger."""
    config, first, said = demo_run.config, demo_run.result, demo_run.said
    print("\n".join(said))  # the steps and their seconds (pytest -rP shows them)
    tools, missing = find_official_tools()
    qc_tools = all(shutil.which(t) for t in ("fastp", "bwa", "samtools", "mosdepth"))
    if tools is not None:  # the GRZs ran on grz-cli + grzctl: the figures say what they did
        truth = json.loads((first.world / "truth.json").read_text())
        n_good, bad = len(truth["submissions"]), truth["bad_submissions"]
        assert first.figures["GRZ intake"].startswith("BfArM's grz-cli + grzctl")
        assert first.figures["grz-db agrees with genomlab"] == "yes, submission by submission"
        hospital = sum(b["reason"] != "reused_tanG" for b in bad)  # grz-cli's validation
        failed = {path: metrics for path, metrics in first.detailed_qc.items() if metrics}
        by_qc = f"refused by detailed QC {len(failed)}, " if failed else ""
        assert first.figures["GRZ submissions by outcome"] == (
            f"grz-db Finished {n_good - len(failed)}, {by_qc}"
            f"refused by grz-cli submit {hospital}, "
            f"refused by grzctl download {len(bad) - hospital}")
        if qc_tools:  # the committed world with reads, generated into the home: QC ran
            assert first.world == config.home / QC_WORLD
            inflated = {x["path"]: x["field"].rsplit(".", 1)[1]
                        for x in truth["inflated_submissions"]}
            assert set(inflated) <= set(first.detailed_qc)  # first of their submitter: selected
            assert failed == {path: [f"index0_germline0.{metric}"]
                              for path, metric in inflated.items()}  # no honest one fails
            assert len(first.detailed_qc) > len(failed)
            assert first.figures["detailed QC"].startswith(
                f"{len(first.detailed_qc)} run (selected by grzctl db should-qc), "
                f"{len(failed)} failed; ")
            for metric in inflated.values():
                assert metric in first.figures["detailed QC"]
        else:
            assert "await detailed QC" in first.figures["detailed QC"]  # no reads in this world
            assert any("await detailed QC" in line for line in said)
        confirmations = list((config.home / "hospitals").glob("*/meldebestaetigungen/*"))
        assert int(first.figures["Meldebestätigungen issued"]) == len(confirmations)
    else:
        assert first.figures["GRZ intake"].startswith("old in-process path")
        assert any("warning: GRZ intake on genomlab's old in-process path" in line
                   and missing[0] in line for line in said)
    assert first.application_id is not None
    assert first.project_id is not None
    assert int(first.figures["Meldebestätigungen issued"]) > 0
    assert first.figures["airlock"] == "1 file(s) released"
    served = get_service_instances(config)  # platform, trust centre, data service, airlock, nodes
    assert {i.kind for i in served} == {"platform", "trust_center", "data_service", "airlock",
                                        "grz", "kdk"}
    assert first.figures["services"].startswith(f"{len(served)} started in ")
    # after the approval the flow went through the services: the trust centre issued the
    # linkage map to the verified client of the data service (in-process the actor would be the
    # name "data_service"), and the airlock's ledger names the people their tokens speak for
    data_client = load_client_credentials(get_credentials_path(
        Institution(config, "data_service").directory)).client_id
    issued = list(Institution(config, "trust_center").ledger().events(type="linkage_map.issued"))
    assert issued
    assert {e.actor for e in issued} == {data_client}
    reviews = Institution(config, "airlock").ledger().events(type="airlock.review.recorded")
    assert sorted(e.actor for e in reviews) == ["hanna", "otto"]
    # the intake went through the services too: each KDK's (and on BfArM's tools each GRZ's)
    # case-number exchanges are by its own verified OAuth client (in-process: "node:<id>")
    exchanged: dict[str, set[str]] = {}
    for e in Institution(config, "trust_center").ledger().events(type="case_number.exchanged"):
        exchanged.setdefault(e.payload["node_id"], set()).add(e.actor)
    assert {n[:3] for n in exchanged} == {"GRZ", "KDK"}
    for node in (n for n in exchanged if n.startswith("KDK") or tools is not None):
        kind = "kdk" if node.startswith("KDK") else "grz"
        assert exchanged[node] == {load_client_credentials(get_credentials_path(
            Institution(config, kind, node).directory)).client_id}, node
    assert first.figures["KDK intake"].startswith("through the KDK services")
    assert not list((config.home / "services").glob("*.json"))  # every service stopped
    print(f"services stopped: {first.figures['services stopped']}")
    workspace = config.workspace_dir(first.project_id)
    assert (workspace / "release" / "manifest.json").is_file()
    assert (workspace / "qc" / "sample_qc.tsv").is_file()
    names = {inst.name for inst in existing_institutions(config)}
    assert {"platform", "trust_center", "data_service", "airlock", "reports",
            "grz:GRZK00001", "kdk:KDKTUE005"} <= names
    heads = {inst.name: inst.ledger().head() for inst in existing_institutions(config)}
    assert all(inst.ledger().verify().ok for inst in existing_institutions(config))
    run_demo(config, master="local[2]", echo=lambda _: None)
    assert {inst.name: inst.ledger().head() for inst in existing_institutions(config)} == heads
    key = config.home / "trust_center" / "keys" / "ledger.ed25519.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    # the individual-level release is at rest Crypt4GH only (issue 19); the member's decrypted
    # copy in the scratch holds the MatrixTables QC read
    assert (workspace / "release" / "release.tar.c4gh").is_file()
    assert not list(workspace.glob("release/**/*.mt"))
    assert list(workspace.glob("scratch/**/*.mt"))
    # stores, MatrixTables (written by Spark's JVM), the release and the workspace: owner-only;
    # the only exception is what the services publish for clients (CA certificates and public
    # keys, genomlab.services.runner.publish_service_file), behind the owner-only services folder
    services = config.home / "services"
    published = [f for f in list_open_to_others(config.home)
                 if f.split(" ", 1)[1].startswith(f"{config.home.name}/services/")
                 and f.endswith((".ca.pem", ".pub.pem"))]
    assert not published or services.stat().st_mode & 0o077 == 0
    assert [f for f in list_open_to_others(config.home) if f not in published] == []


@pytest.mark.notebook  # the demo's report step runs the scheduled reports with papermill
@pytest.mark.parametrize("year", [2026, 2031])
def test_cli_demo__no_hail_prints_where_things_are(tmp_path: Path, year: int) -> None:
    """The project id's year is the injected clock's, whatever today's date is."""
    home = config_for(tmp_path / "home").home  # PYTEST_POSTGRES: its schemas dropped at the end
    with use_clock(ticking_from(datetime(year, 12, 31, 23, 0, tzinfo=UTC))):
        result = CliRunner().invoke(main, ["demo", "--no-hail"],
                                    env={"GENOMLAB_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert f"home (stores, keys, ledgers): {home}" in result.output
    assert "jupyter lab" in result.output
    assert "skip  workspace: cohort QC on Hail  (--no-hail)" in result.output
    assert f"approved application: APP-000001 (project GDE-{year}-0001)" in result.output
    verified = next(line for line in result.output.splitlines() if "ledger events verified" in line)
    assert int(verified.rsplit(":", 1)[1]) > 7
