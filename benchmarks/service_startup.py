"""Start-up of every service of a demo home: fork server vs a fresh process per service (issue 15).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/service_startup.py --home DIR [--repeats 3]``

The home: a copy of ``--home``, a home ``make demo`` made (the original is not touched; ``make
demo`` writes ``./genomlab-home``): platform, trust centre, data service, airlock and every GRZ
and KDK of the committed world, 11 services. (``genomlab demo --no-hail`` makes no nodes.)

Each repeat starts ``genomlab serve all`` twice, taking turns: with ``services.fork_server`` on
(the default: one process imports the services' code once and forks each service,
:mod:`genomlab.services.forked`) and off (``GENOMLAB_SERVICES__FORK_SERVER=0``: a fresh ``python
-m genomlab.cli serve KIND`` per service, as before December 2026). The figure is the one ``serve
all`` prints: from the first start until every service recorded its URL and answered
``/healthz`` (issue 15's goal: under 10 s). Also printed: the machine's load, and the CPU
seconds the services' processes used until ready (from ``/proc``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil

READY = re.compile(r"^all (\d+) services ready in ([0-9.]+) s")
GENOMLAB = str(Path(sys.executable).parent / "genomlab")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (the fork server, the
    services)."""
    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def start_once(home: Path, fork_server: bool) -> tuple[int, float, float]:
    """(services, seconds until all ready as ``serve all`` prints it, CPU seconds used)."""
    env = {**os.environ, "GENOMLAB_HOME": str(home),
           "GENOMLAB_SERVICES__FORK_SERVER": "1" if fork_server else "0"}
    process = subprocess.Popen([GENOMLAB, "serve", "all"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            ready = READY.match(line)
            if ready:
                return int(ready.group(1)), float(ready.group(2)), _cpu_seconds(process.pid)
        raise SystemExit(f"serve all ended without starting: exit {process.wait()}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()
        threading.Event().wait(1.0)  # the ports and records are gone before the next start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--home", type=Path, required=True, help="a home make demo made")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(args.home, home, symlinks=True)
        print(f"home: a copy of {args.home}")
        figures: dict[bool, list[float]] = {True: [], False: []}
        for repeat in range(1, args.repeats + 1):
            for fork_server in (True, False):
                load = os.getloadavg()[0]
                n, seconds, cpu = start_once(home, fork_server)
                figures[fork_server].append(seconds)
                print(f"repeat {repeat}: {'fork server   ' if fork_server else 'fresh process'}"
                      f" {n} services ready in {seconds:5.1f} s, {cpu:5.1f} CPU s "
                      f"(load {load:.1f})", flush=True)
        best = {k: min(v) for k, v in figures.items()}
        middle = {k: sorted(v)[len(v) // 2] for k, v in figures.items()}
        print(f"\nfork server:    median {middle[True]:.1f} s, best {best[True]:.1f} s")
        print(f"fresh processes: median {middle[False]:.1f} s, best {best[False]:.1f} s")
        print(f"ratio (fresh / fork server, medians): {middle[False] / middle[True]:.2f}x; "
              f"goal < 10 s: {'met' if middle[True] < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
