"""Store URLs: per-node template, per-home schemas, and separate stores per institution."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from genomlab.config import GenomlabConfig, load_config
from genomlab.db import search_path_schema
from genomlab.institution import Institution
from genomlab.ledgers import open_ledger

SINGLETONS = {f"GENOMLAB_STORES__{kind}": f"postgresql+psycopg://{kind.lower()}@db/{kind.lower()}"
              for kind in ("PLATFORM", "TRUST_CENTER", "DATA_SERVICE")}


def test_store_url__node_template_fills_kind_and_node_id(tmp_path: Path) -> None:
    config = load_config(environ={
        "GENOMLAB_HOME": str(tmp_path), **SINGLETONS,
        "GENOMLAB_STORES__NODE_TEMPLATE": "postgresql+psycopg://{kind}_{node_id}@db/gl_{kind}_{node_id}",
        "GENOMLAB_STORES__GRZ__GRZTUE002": "sqlite:///{home}/grz/listed.db",
    })
    assert config.store_url("grz", "GRZK00001") == (
        "postgresql+psycopg://grz_GRZK00001@db/gl_grz_GRZK00001")
    assert config.store_url("kdk", "KDKTUE005") == (
        "postgresql+psycopg://kdk_KDKTUE005@db/gl_kdk_KDKTUE005")
    assert config.store_url("grz", "GRZTUE002") == f"sqlite:///{tmp_path}/grz/listed.db"


def test_store_url__without_template_nodes_keep_their_sqlite_file(tmp_path: Path) -> None:
    config = load_config(environ={"GENOMLAB_HOME": str(tmp_path), **SINGLETONS})
    assert config.store_url("grz", "GRZK00001") == f"sqlite:///{tmp_path}/grz/GRZK00001/grz.db"


def test_store_url__home_id_gives_each_home_its_own_schema(tmp_path: Path) -> None:
    url = "postgresql+psycopg://t@db/genomlab?options=-csearch_path%3Dgl{home_id}_platform"
    urls = {load_config(environ={"GENOMLAB_HOME": str(tmp_path / home),
                                 **SINGLETONS, "GENOMLAB_STORES__PLATFORM": url}
                        ).store_url("platform") for home in ("a", "b")}
    assert len(urls) == 2
    schemas = {search_path_schema(make_url(u)) for u in urls}
    assert all(s is not None and s.startswith("gl") and s.endswith("_platform") for s in schemas)


def test_search_path_schema__folds_unquoted_names_like_postgresql() -> None:
    assert search_path_schema(make_url("postgresql://h/d?options=-csearch_path%3DGRZ_A,x")) == (
        "grz_a")
    assert search_path_schema(make_url('postgresql://h/d?options=-csearch_path%3D"GRZ_A"')) == (
        "GRZ_A")
    assert search_path_schema(make_url("postgresql://h/d")) is None


def test_institution_stores__nodes_and_platform_keep_separate_ledgers(
        config: GenomlabConfig) -> None:
    ledgers = {name: open_ledger(Institution(config, *name.split(":")))  # type: ignore[arg-type]
               for name in ("platform", "grz:GRZK00001", "kdk:KDKTUE005")}
    for n, (name, ledger) in enumerate(ledgers.items(), start=1):
        for _ in range(n):
            ledger.append("institution.initialised", {"institution": name, "store": "test"},
                          actor="operator")
    assert [ledger.head()[0] for ledger in ledgers.values()] == [1, 2, 3]
    assert len({ledger.engine.url.render_as_string() for ledger in ledgers.values()}) == 3
    engine = ledgers["grz:GRZK00001"].engine
    if engine.dialect.name == "postgresql":  # a schema of its own, named as PostgreSQL folds it
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar_one() == (
                f"gl{config.home_id}_grz_grzk00001")
    else:
        assert Path(engine.url.database or "") == config.home / "grz" / "GRZK00001" / "grz.db"
