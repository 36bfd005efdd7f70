"""Importing any genomlab module is cheap and inert: no Spark, no Hail, no network.

The docstring examples of every module are collected by pytest (``conftest.py`` at the root), so
each module is imported in the test run; this keeps that import from starting a JVM or reaching
out of the machine. Runs in a fresh interpreter so earlier tests' imports do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, socket, sys, threading

attempts = []
def refuse(self, address):
    attempts.append(repr(address))
    raise OSError("network refused while importing")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse

import genomlab
names = [m.name for m in pkgutil.walk_packages(genomlab.__path__, "genomlab.")
         if m.name != "genomlab.migrations.env"]  # alembic executes it inside a migration
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "modules": names,
    "heavy": sorted(m for m in ("hail", "pyspark", "py4j") if m in sys.modules),
    "connects": attempts,
    "threads": sorted(t.name for t in threading.enumerate() if t is not threading.main_thread()),
}))
"""


def test_importing_every_module_starts_no_spark_and_reaches_no_network() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert len(report["modules"]) > 100  # every subpackage walked, not just the top level
    assert report["heavy"] == []
    assert report["connects"] == []
    assert report["threads"] == []
