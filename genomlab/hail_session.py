"""The one place that starts Hail. No other module calls ``hl.init``.

Local mode binds the driver to 127.0.0.1 with the Spark UI off, keeps every scratch folder
(Hail's ``tmp_dir``, ``local_tmpdir`` and Spark's ``spark.local.dir``) under the home (or the
member's workspace scratch a notebook names), and takes the
driver memory from the configuration. A ``spark://`` master ships Hail's jar to the executors.
Start-up costs ~20 s on two cores, so a process starts Hail once and reuses it.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import threading
import warnings
import zipfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType, ModuleType

from genomlab.config import GenomlabConfig
from genomlab.errors import GenomlabError
from genomlab.home import ensure_home
from genomlab.leftovers import make_owned_name, sweep_leftovers

log = logging.getLogger(__name__)
_started: str | None = None
_starting = threading.RLock()
"""Held while Hail starts or stops: two threads of one process (a service's requests) never
start two sessions."""

type HailModule = ModuleType
"""The ``hail`` module that :func:`init_hail` returns, handed on as ``hl``. Hail ships no type
information, so its attributes are ``Any``; the alias still keeps a table or a path from being
passed where the module is expected."""


def java_version() -> int | None:
    """The major version of the ``java`` on PATH (or under ``$JAVA_HOME``), or ``None``."""
    java = Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None
    executable = str(java) if java and java.exists() else shutil.which("java")
    if executable is None:
        return None
    out = subprocess.run([executable, "-version"], capture_output=True, text=True).stderr
    for token in out.split():
        token = token.strip('"')
        if token[:1].isdigit():
            major = token.split(".")[0]
            return int(major) if major != "1" else int(token.split(".")[1])
    return None


def hail_jar() -> Path:
    """Hail's jar, found without importing (or starting) Hail."""
    spec = importlib.util.find_spec("hail")
    if spec is None or not spec.submodule_search_locations:
        raise GenomlabError("hail: not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "backend" / "hail-all-spark.jar"


@cache
def get_reference_contig_lengths(reference: str) -> Mapping[str, int]:
    """Contig name → length of one of Hail's built-in reference genomes (``GRCh38``, …).

    Read from the JSON Hail itself loads from its jar, so it is exactly the contig set an
    import with that reference accepts; no JVM is started.

    Examples
    --------
    >>> lengths = get_reference_contig_lengths("GRCh38")
    >>> lengths["chr1"], "1" in lengths
    (248956422, False)
    """
    path = f"reference/{reference.lower()}.json"
    try:
        with zipfile.ZipFile(hail_jar()) as jar:
            config = json.loads(jar.read(path))
    except (OSError, KeyError) as exc:
        raise GenomlabError(f"{hail_jar()}: field {path}: no reference genome {reference!r}"
                            ) from exc
    return MappingProxyType({c["name"]: int(c["length"]) for c in config["contigs"]})


def spark_conf_for(config: GenomlabConfig, master: str) -> dict[str, str]:
    """The Spark settings genomlab starts Hail with."""
    conf = {  # Hail points spark.local.dir at its local_tmpdir (under the home), see init_hail
        "spark.driver.memory": config.spark.driver_memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "8",
        # Hadoop applies its own umask (022) to the files it creates: owner-only, as the home.
        "spark.hadoop.fs.permissions.umask-mode": "077",
    }
    if master.startswith("local"):
        conf |= {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
    else:
        jar = str(hail_jar())
        conf |= {
            "spark.jars": jar,
            "spark.driver.extraClassPath": jar,
            "spark.executor.extraClassPath": jar,
            "spark.executor.memory": config.spark.executor_memory,
            "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
            "spark.kryo.registrator": "is.hail.kryo.HailKryoRegistrator",
        }
    return conf


def make_session_scratch(config: GenomlabConfig, under: Path | None = None
                         ) -> tuple[Path, Path]:
    """This process's Hail ``tmp_dir`` and ``local_tmpdir``: ``home/tmp/{hail,local}/
    session-<pid>-<random>`` (or ``under/{hail,local}/…``), removed when the process exits.

    Spark's shuffle and block files and Hail's temporary tables hold genotypes. A process killed
    with SIGKILL cannot remove its folders, so every start first sweeps the folders of
    processes that are gone (:func:`genomlab.leftovers.sweep_leftovers`).
    """
    name = make_owned_name("session")
    base = config.tmp_dir if under is None else under
    folders = (base / "hail" / name, base / "local" / name)
    for folder in folders:
        sweep_leftovers(folder.parent, "session")
        folder.mkdir(parents=True, mode=0o700)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folders


def init_hail(config: GenomlabConfig, *, master: str | None = None,
              scratch: Path | None = None) -> HailModule:
    """Start Hail once for this process (thread-safe) and return the ``hail`` module.

    Parameters
    ----------
    config:
        Supplies the master (``spark.master``), driver memory, block size and the home for tmp.
    master:
        Overrides the configured master (tests use ``local[2]``).
    scratch:
        A folder of the caller's own for the session's scratch folders and ``hail.log``
        instead of the home's ``tmp`` and ``logs``: a person's server (behind the hub) runs
        under the person's account, which may not write the home; the member's workspace
        scratch is where their genotypes may rest (the notebooks pass it).

    Raises
    ------
    GenomlabError
        Java 11 or 17 is missing, or Hail is already running with another master.
    """
    with _starting:  # a service's request threads may ask at once
        return _init_hail(config, master=master, scratch=scratch)


def _init_hail(config: GenomlabConfig, *, master: str | None,
               scratch: Path | None) -> HailModule:
    global _started
    master = master or config.spark.master
    if _started is not None:
        if _started != master:
            raise GenomlabError(f"Hail already runs on {_started}; cannot switch to {master}")
        import hail as hl

        return hl
    version = java_version()
    if version not in (11, 17):
        raise GenomlabError(
            f"Hail needs Java 11 or 17 (found {version or 'no java'}); install openjdk-17-jre"
        )
    ensure_home(config.home)  # umask 077 before the JVM starts: it inherits it
    tmp_dir, local_tmpdir = make_session_scratch(config, scratch)
    logs = config.home / "logs" if scratch is None else scratch
    logs.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message=".*Java 11.*")
    import hail as hl

    if master.startswith("local"):
        # Every Spark service on loopback (bindAddress alone leaves some on the host's address).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    location = {"local": master} if master.startswith("local") else {"master": master}
    hl.init(
        **location,
        app_name="genomlab",
        tmp_dir=str(tmp_dir),
        local_tmpdir=str(local_tmpdir),
        log=str(logs / "hail.log"),
        quiet=True,
        min_block_size=config.spark.min_block_size,
        spark_conf=spark_conf_for(config, master),
        global_seed=0,
        idempotent=True,
    )
    hl.spark_context().setLogLevel(config.spark.log_level)
    _started = master
    log.info("Hail started on %s", master)
    return hl


def stop_hail() -> None:
    """Stop Hail if this process started it."""
    global _started
    with _starting:
        if _started is not None:
            import hail as hl

            hl.stop()
            _started = None
