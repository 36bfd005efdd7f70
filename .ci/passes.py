"""The pytest passes of ``make test``, two at a time.

``make test`` runs five passes: the Hail, notebook and browser tests; the other ("fast") tests
under today's clock; the fast tests again under a shifted clock (Debian's ``faketime``), half of
the test files under each of two dates (``PYTEST_SHARD``, :mod:`tests.shards`); and the
store and ledger tests on PostgreSQL. One after the other they took about
80 of CI's 90 minutes on two cores, and one pass alone leaves a core idle while it waits on
subprocesses, services and Spark. So two workers take the passes from one queue, longest first,
each pass writing its own log (one run here: 126 minutes of passes in 67). This prints a line
when a pass starts and ends, then each pass's summary; for a pass that failed, its whole log.
The exit status is non-zero when any pass failed.

Usage: ``python .ci/passes.py`` from the repository root (``make test`` does); ``PYTEST_ARGS``
is passed to the two passes under today's clock, ``PASSES_WORKERS`` (default 2) sets how many
passes run at once. The passes share nothing on disk but the checkout (tests write under their
own temporary folders; the one test that builds a wheel builds from a copy).
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python")
PYTEST = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
SLOW_KINDS = "hail or browser or notebook"
FAST = f"not ({SLOW_KINDS})"
SHIFTED_CLOCKS = ("2027-07-15T10:00:00", "2030-02-28T23:30:00")
"""A mid-2027 day, and the last evening of February 2030 (the pass runs over midnight). Each
runs half of the fast test files (until December 2026 each ran all of them, 17 minutes a pass):
every fast test still runs under today's clock and under one of the dates."""


@dataclass
class Pass:
    """One pytest run: its name, command, extra environment and (after it ran) its outcome."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    returncode: int | None = None
    seconds: float = 0.0


def get_postgres_tests() -> list[str]:
    """The Makefile's ``POSTGRES_TESTS`` (the one list of the store and ledger tests)."""
    out = subprocess.run(["make", "-s", "-f", "-", "print"], cwd=REPO, check=True, text=True,
                         capture_output=True,
                         input="include Makefile\nprint:\n\t@echo $(POSTGRES_TESTS)\n").stdout
    return out.split()


def get_shifted_pass(at: str, now: float, shard: str) -> Pass:
    """Share ``shard`` (``K/N``, :mod:`tests.shards`) of the fast test files under the
    machine's clock moved to ``at``: an offset from ``now`` (the machine's clock, epoch seconds,
    read once by :func:`main`), so that every process of the pass sees the same shifted time;
    monotonic clocks stay real."""
    offset = int(dt.datetime.fromisoformat(at).timestamp() - now)
    return Pass(f"shifted clock {at} (files {shard})",
                ["faketime", "-f", f"{offset:+d}", *PYTEST, "-m", f"{FAST} and not sigkill"],
                {"FAKETIME_DONT_FAKE_MONOTONIC": "1", "PYTEST_SHARD": shard})


def get_passes(postgres_url: str, pytest_args: list[str], *, now: float) -> list[Pass]:
    """The passes, longest first (the order the workers take them); ``now`` as for
    :func:`get_shifted_pass`."""
    return [
        Pass("Hail, notebooks and browsers", [*PYTEST, *pytest_args, "-m", SLOW_KINDS]),
        Pass("fast tests", [*PYTEST, *pytest_args, "-m", FAST]),
        # every fast test file under one of the dates: one shifted run of the suite, not two
        *(get_shifted_pass(at, now, f"{k}/{len(SHIFTED_CLOCKS)}")
          for k, at in enumerate(SHIFTED_CLOCKS)),
        Pass("PostgreSQL", [*PYTEST, "-m", FAST, *get_postgres_tests()],
             {"PYTEST_POSTGRES": postgres_url}),
    ]


def start_postgres() -> str:
    """Install and start the throw-away PostgreSQL cluster (``.ci/postgres``); its URL."""
    out = subprocess.run(["bash", str(REPO / ".ci" / "postgres")], check=True, text=True,
                         stdout=subprocess.PIPE).stdout.strip().splitlines()
    url = out[-1] if out else ""
    if not url.startswith("postgresql"):
        raise SystemExit(f".ci/passes.py: .ci/postgres gave no PostgreSQL URL: {url!r}")
    return url


STARTED = time.monotonic()


def say(text: str) -> None:
    """``text`` with the minutes since the runner started."""
    print(f"[{(time.monotonic() - STARTED) / 60:5.1f} min] {text}", flush=True)


def run_pass(item: Pass, logs: Path) -> None:
    """Run one pass to its log file and record its outcome."""
    item.log = logs / (item.name.replace(" ", "-").replace(",", "").replace(":", "")
                       .replace("/", "of").replace("(", "").replace(")", "") + ".log")
    say(f"{item.name}: started ({shlex.join(item.command)})")
    started = time.monotonic()
    with item.log.open("wb") as out:
        item.returncode = subprocess.run(item.command, cwd=REPO, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **item.env}, check=False).returncode
    item.seconds = time.monotonic() - started
    say(f"{item.name}: {'passed' if item.returncode == 0 else 'FAILED'} in "
        f"{item.seconds / 60:.1f} min ({_get_summary_line(item.log)})")


def _get_summary_line(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    engine = [line for line in lines if line.startswith("engine ")]
    return engine[-1] if engine else (lines[-1] if lines else "no output")


def run_passes(passes: list[Pass], *, workers: int, logs: Path) -> bool:
    """Run ``passes`` on ``workers`` threads from one queue; ``True`` when all passed."""
    todo: queue.Queue[Pass] = queue.Queue()
    for item in passes:
        todo.put(item)

    def work() -> None:
        while True:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            run_pass(item, logs)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return all(item.returncode == 0 for item in passes)


def main(argv: list[str]) -> int:
    if argv:  # settings come from the environment; an argument would be silently ignored
        print(f".ci/passes.py: takes no arguments (got {shlex.join(argv)}); set PYTEST_ARGS or "
              "PASSES_WORKERS instead", file=sys.stderr)
        return 2
    pytest_args = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    workers = int(os.environ.get("PASSES_WORKERS", "2"))
    started = time.monotonic()
    # the one read of the machine's clock: faketime's offsets are from it
    passes = get_passes(start_postgres(), pytest_args, now=time.time())
    logs = Path(tempfile.mkdtemp(prefix="genomlab-passes-"))
    say(f"{len(passes)} pytest passes, {workers} at a time; logs in {logs}")
    ok = run_passes(passes, workers=workers, logs=logs)
    for item in passes:
        assert item.log is not None
        text = item.log.read_text(errors="replace")
        print(f"\n===== {item.name}: {'passed' if item.returncode == 0 else 'FAILED'} "
              f"({item.seconds / 60:.1f} min) =====")
        print(text if item.returncode != 0 else "\n".join(text.splitlines()[-25:]), flush=True)
    print(f"\npasses: {sum(i.returncode == 0 for i in passes)} of {len(passes)} passed; "
          f"{(time.monotonic() - started) / 60:.1f} min wall, "
          f"{sum(i.seconds for i in passes) / 60:.1f} min of passes", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
