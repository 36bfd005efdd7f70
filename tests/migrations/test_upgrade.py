"""A home made by release 1 upgrades in place; ledgers and projections survive intact."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, inspect, select, update

from genomlab.admin.cli import db
from genomlab.cli_context import CliContext
from genomlab.config import GenomlabConfig
from genomlab.db import get_engine, read_connection
from genomlab.institution import Institution
from genomlab.ledger import projection_matches
from genomlab.migrations import (
    FIRST_REVISION,
    get_head_revision,
    get_store_revision,
    upgrade_home,
    upgrade_store,
)
from genomlab.platform.applications import Workflow
from genomlab.platform.applications.projection import PROJECTION, register
from genomlab.platform.applications.register import export_register
from genomlab.trust_center.service import TrustCenter
from genomlab.trust_center.store import TrustCenterProjection
from tests.conftest import write_config_file
from tests.migrations.conftest import KINDS, read_release1_dump
from tests.platform.conftest import make_form
from tests.trust_center.conftest import LE_IK, make_kvnr


def _ledger_rows(dump: dict) -> list[list]:
    return dump["tables"]["ledger_events"]["rows"]


def test_upgrade_home__release1_home_upgrades_in_place(release1_home: GenomlabConfig) -> None:
    config = release1_home
    assert [get_store_revision(config.store_url(k)) for k in KINDS] == [FIRST_REVISION] * 2
    done = {u.institution: (u.before, u.after) for u in upgrade_home(config)}
    head = get_head_revision()
    assert done == {"platform": (FIRST_REVISION, head), "trust_center": (FIRST_REVISION, head)}

    workflow = Workflow(config)
    events = list(workflow.ledger.events())
    shipped = _ledger_rows(read_release1_dump("platform"))
    assert [(e.seq, e.hash) for e in events] == [(r[0], r[7]) for r in shipped]  # untouched
    assert workflow.ledger.verify(full=True).ok
    with read_connection(workflow.ledger.engine) as conn:  # the new table, filled from events
        entries = conn.execute(select(register.c.application_id, register.c.status)).all()
    submitted = {e.payload["application_id"] for e in events if e.type == "application.submitted"}
    assert {app for app, _ in entries} == submitted
    assert len(submitted) == 6
    assert sorted(status for _, status in entries).count("approved") == 1
    assert projection_matches(workflow.ledger, PROJECTION) == []

    app = workflow.create_draft("alice", make_form())  # release-2 code works on the old data
    workflow.submit("alice", app)
    assert projection_matches(workflow.ledger, PROJECTION) == []

    tc = TrustCenter(config)
    assert len(list(tc.ledger.events())) == len(_ledger_rows(read_release1_dump("trust_center")))
    tc.request_case_numbers(kvnr=make_kvnr(500), arbeitsnummer="AN-500", le_ik=LE_IK,
                            le_name="Uniklinik Test", actor="le")
    assert tc.ledger.verify(full=True).ok
    assert projection_matches(tc.ledger, TrustCenterProjection()) == []


@pytest.mark.sqlite_reference  # the release-1 schema as shipped: a SQLite file, no store
def test_upgrade_store__migration_0001_recreates_the_release1_schema(tmp_path: Path,
                                                                     config: GenomlabConfig
                                                                     ) -> None:
    for kind in KINDS:
        shipped = create_engine(f"sqlite:///{tmp_path}/{kind}-release1.db")
        with shipped.begin() as conn:
            for statement in read_release1_dump(kind)["schema"]:
                conn.exec_driver_sql(statement)
        migrated = Institution(config, kind).store_url  # type: ignore[arg-type]
        Institution(config, kind).engine()  # type: ignore[arg-type]
        upgrade_store(migrated, kind, FIRST_REVISION)  # type: ignore[arg-type]
        assert _schema(create_engine(migrated)) == _schema(shipped), kind


def _schema(engine: Engine) -> dict:
    insp = inspect(engine)
    return {
        name: ([(c["name"], c["nullable"]) for c in insp.get_columns(name)],
               insp.get_pk_constraint(name)["constrained_columns"],
               sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(name)
                      if not i.get("duplicates_constraint")))  # PostgreSQL lists UNIQUE too
        for name in insp.get_table_names() if name != "alembic_version"
    }


def test_upgrade_home__store_made_by_current_code_is_stamped_and_unchanged(
        config: GenomlabConfig) -> None:
    workflow = Workflow(config)  # create_all of release 2: no alembic_version yet
    workflow.bootstrap_admin("root", institution="BfArM")
    head_before = workflow.ledger.head()
    done = upgrade_home(config)
    assert [(u.institution, u.before, u.after) for u in done] == [
        ("platform", FIRST_REVISION, get_head_revision())]
    assert upgrade_home(config)[0].before == get_head_revision()  # again: nothing to do
    assert workflow.ledger.head() == head_before
    assert projection_matches(workflow.ledger, PROJECTION) == []


def test_cli_db_upgrade__reports_each_store(release1_home: GenomlabConfig,
                                            tmp_path: Path) -> None:
    context = CliContext(write_config_file(release1_home, tmp_path / "genomlab.toml"))
    runner = CliRunner()
    before = runner.invoke(db, ["status"], obj=context)
    assert before.exit_code == 0, before.output
    assert before.output.splitlines()[0].split() == ["Institution", "Store", "revision", "State"]
    assert ["platform", FIRST_REVISION, "needs", "upgrade", "to", get_head_revision()] in [
        line.split() for line in before.output.splitlines()]
    upgraded = runner.invoke(db, ["upgrade"], obj=context)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"trust_center\t{FIRST_REVISION} -> {get_head_revision()}" in upgraded.output
    after = runner.invoke(db, ["status"], obj=context)
    assert after.output.count("up to date") == 2


def test_upgrade_store__0003_escapes_formulas_in_register_lines_of_a_release2_store(
        config: GenomlabConfig, tmp_path: Path) -> None:
    title = '=HYPERLINK("http://127.0.0.1/x","click")'
    workflow = Workflow(config)
    workflow.bootstrap_admin("root", institution="BfArM")
    workflow.register_user("root", "alice", institution="Uni Tübingen", name="Alice")
    app = workflow.create_draft("alice", make_form(title=title, team=()))
    workflow.submit("alice", app)
    url = config.store_url("platform")
    upgrade_store(url, "platform", "0002")
    with get_engine(url).begin() as conn:  # the line as release 2 rendered it: unescaped
        escaped = conn.execute(select(register.c.csv)).scalar_one()
        conn.execute(update(register).values(csv=escaped.replace("'=HYPERLINK", "=HYPERLINK")))
    assert upgrade_store(url, "platform") == ("0002", get_head_revision())
    export_register(config, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["title"] == "'" + title
    assert projection_matches(workflow.ledger, PROJECTION) == []


def test_upgrade_store__release2_kdk_records_gain_source_digest(config: GenomlabConfig) -> None:
    from sqlalchemy import MetaData, Table

    from genomlab.clinical_node.intake import ClinicalNode
    from genomlab.clinical_node.store import PROJECTION as KDK_PROJECTION
    from genomlab.clinical_node.store import records
    from genomlab.ledger import ledger_metadata

    institution = Institution(config, "kdk", "KDKTUE005")
    engine = institution.engine()
    release2 = MetaData()  # kdk_records as release 2 created it: no source_digest
    Table("kdk_records", release2,
          *[c._copy() for c in records.columns if c.name != "source_digest"])
    ledger_metadata.create_all(engine)
    release2.create_all(engine)
    assert upgrade_store(institution.store_url, "kdk") == (FIRST_REVISION, get_head_revision())
    assert "source_digest" in {c["name"] for c in inspect(engine).get_columns("kdk_records")}
    node = ClinicalNode(config, "KDKTUE005")
    node.begin("1155d5ed4d4f7219", {"source_digest": "0" * 64})
    assert node.get_records()[0]["source_digest"] == "0" * 64
    assert projection_matches(node.ledger, KDK_PROJECTION) == []


def test_upgrade_store__0016_indexes_the_leistungsdatum_counter_of_a_0015_store(
        config: GenomlabConfig) -> None:
    from genomlab.platform.confirmations import get_next_leistungsdatum
    from genomlab.platform.store import open_platform_ledger

    index = "ix_platform_confirmations_submitter_leistungsdatum"
    ledger = open_platform_ledger(config)  # made by today's code: the index is there
    url = Institution(config, "platform").store_url
    upgrade_store(url, "platform")
    with ledger.engine.begin() as conn:  # as revision 0015 left it: no index
        conn.exec_driver_sql(f"DROP INDEX {index}")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0015'")
    assert index not in {i["name"] for i in inspect(ledger.engine).get_indexes(
        "platform_confirmations")}
    assert upgrade_store(url, "platform") == ("0015", get_head_revision())
    assert index in {i["name"] for i in inspect(ledger.engine).get_indexes(
        "platform_confirmations")}
    with read_connection(ledger.engine) as conn:
        assert get_next_leistungsdatum(conn, "260914050", "2026-01-22") == "20260122001"
