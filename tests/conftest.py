"""Shared fixtures: a fresh home per test, one Hail session, papermill, Voila and headless Chromium.

- ``config``: a :class:`GenomlabConfig` whose home is a fresh temporary folder.
- ``hl``: Hail started once per session (``local[2]``, driver on 127.0.0.1, UI off, quiet,
  ``min_block_size=0``) through :func:`genomlab.hail_session.init_hail`, stopped at the end.
- ``run_notebook``: executes a notebook under papermill with parameters; returns the output path.
- ``voila``: serves a notebook with Voila on 127.0.0.1 and returns its URL.
- ``page``: a Playwright page in Debian's Chromium (``/usr/bin/chromium``, no browser download).

PostgreSQL switch (not a ``GENOMLAB_*`` name, which the configuration would read as a key):
with ``PYTEST_POSTGRES=postgresql+psycopg://genomlab@127.0.0.1:55432/
genomlab_test`` (the URL ``bash .ci/postgres`` prints) every institution store of every test home
is a schema of its own in that database (``gl<home_id>_platform``, ``gl<home_id>_grz_<node>``, ...).
The stores are set in ``os.environ`` too, so CLI runs and subprocesses of a test see the same
stores; each home's schemas are dropped when the test session ends. In that pass a test that
opens a SQLite file fails (:class:`tests.engines.SqliteGuard`; a test of the default SQLite
set-up is marked ``sqlite_only`` and skipped there), and every run ends with a
line ``engine sqlite: N selected: ...`` or ``engine postgresql: ...``.

- ``store_url``: the URL of a store on the engine under test, for tests of the ledger itself.
- ``world_intake``: the committed world (``data_samples/world``) through GRZ and KDK intake once
  per session; the GRZ tests read it and the data-service tests copy its home (one intake, not
  two: it is the slowest set-up of the suite).
- ``demo_run``: the whole demo (``run_demo`` on the committed world, Hail from ``hl``) once per
  session: the whole-flow test asserts on its home and result, the researcher-notebook test
  works on a copy of the home taken right after the run (about 11 minutes each; one run, not two).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from genomlab.config import GenomlabConfig, load_config
from genomlab.dashboards.first_screen import get_voila_command, get_voila_environment
from tests.engines import SqliteGuard, format_engine_counts, get_engine_name

if TYPE_CHECKING:
    from genomlab.demo import DemoContext

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


if "faketime" in os.environ.get("LD_PRELOAD", ""):  # the shifted-clock pass (Debian's faketime)
    import select

    _real_sleep = time.sleep

    def _sleep_under_faketime(seconds: float) -> None:
        """libfaketime's nanosleep sometimes fails with EINVAL; ``subprocess.wait(timeout=…)``
        sleeps in a loop, so a test's wait on a child died with OSError. Wait with select."""
        try:
            _real_sleep(seconds)
        except OSError:
            with contextlib.suppress(OSError):  # else a short busy wait: the caller loops
                select.select([], [], [], seconds)

    time.sleep = _sleep_under_faketime

TEST_POSTGRES = os.environ.get("PYTEST_POSTGRES", "")
ENGINE = get_engine_name(TEST_POSTGRES)  # refuses a PYTEST_POSTGRES that is no PostgreSQL URL
_POSTGRES_HOMES: set[str] = set()  # home ids whose schemas the session drops at its end
_SQLITE_GUARD = SqliteGuard()
_SELECTED = pytest.StashKey[int]()  # tests selected by this run (after -m / -k deselection)


def postgres_store_env(server_url: str) -> dict[str, str]:
    """``GENOMLAB_STORES__*`` that put each home's institutions into schemas of one database."""
    base = server_url.split("?")[0].rstrip("/")
    if base.count("/") < 3:  # no database named: the one .ci/postgres creates
        base += "/genomlab_test"

    def at(schema: str) -> str:
        return f"{base}?options=-csearch_path%3Dgl{{home_id}}_{schema}"

    return {"GENOMLAB_STORES__PLATFORM": at("platform"),
            "GENOMLAB_STORES__TRUST_CENTER": at("trust_center"),
            "GENOMLAB_STORES__DATA_SERVICE": at("data_service"),
            "GENOMLAB_STORES__AIRLOCK": at("airlock"),
            "GENOMLAB_STORES__REPORTS": at("reports"),
            "GENOMLAB_STORES__NODE_TEMPLATE": at("{kind}_{node_id}")}


if TEST_POSTGRES:
    os.environ.update(postgres_store_env(TEST_POSTGRES))


def config_for(home: Path, **env: str) -> GenomlabConfig:
    """A configuration with ``home`` and the given ``GENOMLAB_*`` overrides (not the caller's).

    Under ``PYTEST_POSTGRES`` the stores are PostgreSQL schemas of that home.
    """
    stores = postgres_store_env(TEST_POSTGRES) if TEST_POSTGRES else {}
    config = load_config(environ={"GENOMLAB_HOME": str(home), **stores, **env})
    if TEST_POSTGRES:
        _POSTGRES_HOMES.add(config.home_id)
    return config


def drop_postgres_schemas(home_ids: set[str]) -> None:
    """Drop every schema of the given test homes (after closing this process's connections)."""
    from sqlalchemy import create_engine, text

    from genomlab.db import dispose_engines

    dispose_engines()
    engine = create_engine(postgres_store_env(TEST_POSTGRES)["GENOMLAB_STORES__PLATFORM"]
                           .split("?")[0], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for home_id in sorted(home_ids):
            names = conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                                 {"p": f"gl{home_id}\\_%"}).scalars().all()
            for name in names:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def copy_home(source: Path, home: Path) -> GenomlabConfig:
    """A copy of a test home (folders, keys and, under ``PYTEST_POSTGRES``, its schemas)."""
    import shutil

    from sqlalchemy import create_engine, text

    shutil.copytree(source, home)
    config = config_for(home)
    if TEST_POSTGRES:
        old, new = f"gl{config_for(source).home_id}_", f"gl{config.home_id}_"
        engine = create_engine(postgres_store_env(TEST_POSTGRES)["GENOMLAB_STORES__PLATFORM"]
                               .split("?")[0])
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname LIKE :p"
            ), {"p": old.replace("_", "\\_") + "%"}).all()
            for schema in sorted({schema for schema, _ in tables}):
                conn.execute(text(f'CREATE SCHEMA "{new}{schema.removeprefix(old)}"'))
            for schema, table in tables:
                target = f'"{new}{schema.removeprefix(old)}"."{table}"'
                conn.execute(text(f'CREATE TABLE {target} (LIKE "{schema}"."{table}" '
                                  "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"))
                conn.execute(text(f'INSERT INTO {target} SELECT * FROM "{schema}"."{table}"'))
        engine.dispose()
    return config


def pytest_configure(config: pytest.Config) -> None:
    if ENGINE == "postgresql":
        _SQLITE_GUARD.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Uninstall the guard; end the output with the engine's count line (after pytest's own)."""
    _SQLITE_GUARD.uninstall()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for opened in _SQLITE_GUARD.opened:
            reporter.write_line(f"SQLite opened in the PostgreSQL pass: {opened}", red=True)
        reporter.write_line(format_engine_counts(ENGINE, config.stash.get(_SELECTED, 0),
                                                 reporter.stats),
                            bold=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_SELECTED] = len(session.items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _SQLITE_GUARD.allowed = item.get_closest_marker("sqlite_reference") is not None
    if ENGINE == "postgresql" and item.get_closest_marker("sqlite_only"):
        pytest.skip("shows the default set-up (SQLite stores): not a PostgreSQL test")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _SQLITE_GUARD.opened:  # also when the code under test swallowed the refusal
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _close_idle_postgres_connections() -> Iterator[None]:
    """In the PostgreSQL pass, close this process's idle pooled connections after each test:
    every test home is a set of new schemas with engines of their own, and their idle
    connections used up the server's slots (``remaining connection slots are reserved``)."""
    yield
    if TEST_POSTGRES:
        from genomlab.db import close_idle_connections

        close_idle_connections()


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_test_stores() -> Iterator[None]:
    yield
    if TEST_POSTGRES and _POSTGRES_HOMES:
        drop_postgres_schemas(_POSTGRES_HOMES)


@pytest.fixture
def config(tmp_path: Path) -> GenomlabConfig:
    return config_for(tmp_path / "home")


@pytest.fixture
def store_url(config: GenomlabConfig) -> str:
    """A store on the engine under test: the test home's (empty) platform store, a SQLite file
    under ``tmp_path`` or, under ``PYTEST_POSTGRES``, a PostgreSQL schema of that home."""
    return config.store_url("platform")


@pytest.fixture(scope="session")
def hl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from genomlab.hail_session import init_hail, stop_hail

    home = tmp_path_factory.mktemp("hail-home")
    hail = init_hail(config_for(home, GENOMLAB_SPARK__DRIVER_MEMORY="6g"), master="local[2]")
    yield hail
    stop_hail()


@dataclass
class WorldIntake:
    """The session's world intake: its home, the world copy it read and what intake returned."""

    config: GenomlabConfig
    world: Path
    truth: dict[str, Any]
    results: dict[str, Any]


@pytest.fixture(scope="session")
def world_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of ``data_samples/world`` (tests never write into the repository)."""
    target = tmp_path_factory.mktemp("world") / "world"
    shutil.copytree(REPO / "data_samples" / "world", target)
    return target


@pytest.fixture(scope="session")
def world_intake(world_copy: Path, hl: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> WorldIntake:
    """The whole world through GRZ and KDK intake once (Hail from the session fixture).

    Tests only read this home; a test that changes a home works on ``copy_home`` of it.
    """
    from genomlab.intake import run_world_intake

    config = config_for(tmp_path_factory.mktemp("intake") / "home")
    results = run_world_intake(config, world_copy, progress=lambda _m: None, hail=lambda: hl)
    truth = json.loads((world_copy / "truth.json").read_text())
    return WorldIntake(config, world_copy, truth, results)


@dataclass(frozen=True)
class DemoRun:
    """The session's one demo run: its home, what ``run_demo`` returned, the lines it said and
    a copy of the home taken before any test touched it.

    ``config``'s home is the demo's own (the whole-flow test re-runs the demo there and checks
    its file modes); ``copy`` is for a test that writes into a home (the researcher notebooks).
    """

    config: GenomlabConfig
    result: DemoContext
    said: list[str]
    copy: GenomlabConfig


@pytest.fixture(scope="session")
def demo_run(hl: Any, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``run_demo`` once in this process (``local[2]``, the session's Hail: no second JVM).

    A GRZ's own processing (grzctl's pipeline, genomlab's storing) must happen in that GRZ's
    service, never in the demo's process: here both raise, so a demo that fell back to doing
    it in-process fails (the services are forked from a fork server of their own, which this
    patch does not reach)."""
    from genomlab.demo import run_demo

    config = config_for(tmp_path_factory.mktemp("demo") / "home")
    said: list[str] = []

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a GRZ's own processing ran in the demo's process")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("genomlab.genome_center.grzctl_pipeline.GrzctlPipeline.run", refuse)
        patch.setattr("genomlab.genome_center.intake.GenomeCenter.submit", refuse)
        result = run_demo(config, master="local[2]", echo=said.append)
    copy = copy_home(config.home, tmp_path_factory.mktemp("demo-copy") / "home")
    return DemoRun(config, result, said, copy)


def wait_for_http(url: str, *, timeout: float, process: subprocess.Popen[Any] | None = None,
                  log: Path | None = None) -> str:
    """``url`` once a server answers there (any HTTP status); fails if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text() if log else process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return url
        except urllib.error.HTTPError:
            return url  # it answers: up (the page itself is checked by the test)
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no server answered on {url}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config_file(config: GenomlabConfig, path: Path) -> Path:
    """A ``genomlab.toml`` for subprocesses (kernels, Voila) that points at ``config``'s home."""
    text = f'home = "{config.home}"\nlocal_user = "{config.local_user}"\n'
    if config.stores is not None:  # e.g. the PostgreSQL switch
        stores = config.stores.model_dump(exclude_none=True, exclude={"grz", "kdk"})
        text += "[stores]\n" + "".join(f'{key} = "{url}"\n' for key, url in stores.items())
    path.write_text(text)
    return path


@pytest.fixture
def run_notebook(tmp_path: Path) -> Callable[..., Path]:
    import papermill

    def run(name: str, **parameters: Any) -> Path:
        out = tmp_path / f"out-{name}"
        papermill.execute_notebook(
            str(NOTEBOOKS / name), str(out), parameters=parameters, kernel_name="python3",
            cwd=str(tmp_path), progress_bar=False, execution_timeout=600,
        )
        return out

    return run


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[Callable[..., str]]:
    servers: list[subprocess.Popen[bytes]] = []

    def serve(notebook: str, env: dict[str, str] | None = None, timeout: float = 90) -> str:
        port = free_port()
        log = (tmp_path / f"voila-{port}.log").open("wb")
        proc = subprocess.Popen(
            get_voila_command(NOTEBOOKS / notebook, port, "--show_tracebacks=True"),
            env=get_voila_environment({**os.environ, **(env or {})}), stdout=log,
            stderr=subprocess.STDOUT, cwd=tmp_path,
        )
        servers.append(proc)
        return wait_for_http(f"http://127.0.0.1:{port}/", timeout=timeout, process=proc,
                             log=tmp_path / f"voila-{port}.log")

    yield serve
    for proc in servers:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
