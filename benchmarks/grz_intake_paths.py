"""Benchmark: GRZ intake through BfArM's tools (grz-cli → S3 inbox → grzctl) vs the old in-process
intake, the same submissions on both paths (issue 17's closing note).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/grz_intake_paths.py [--submissions 5]
[--repeats 2] [--grz GRZK00001] [--parallel 1] [--no-warmup]``
(needs BfArM's tools in ``<repo>/.grzctl-venv``: ``.ci/setup --test-tools``; from a git worktree
without one set ``PYTEST_GRZ_CLI`` and ``PYTEST_GRZCTL`` to the executables, as for the tests).

The submissions are the first ``--submissions`` good single-sample initial submissions of
``data_samples/world`` to one GRZ (sorted by id). Each repeat runs both paths, taking turns
(the order flips every repeat), each on a fresh home (world institutions, case numbers and
consents set up untimed; Hail is started once, before the first repeat, and shared):

(a) the official path, :func:`genomlab.intake.official.run_world_official_intake` on the chosen
    folders (detailed QC off): every hospital sends with ``grz-cli submit`` (validate with
    grz-check, Crypt4GH-encrypt, upload) into the GRZ's moto S3 inbox on 127.0.0.1; then
    :class:`genomlab.genome_center.grzctl_pipeline.GrzctlPipeline` over the inbox: grzctl add,
    download, decrypt, validate, should-qc, encrypt, archive; genomlab's part on grzctl's
    decrypted folders (receive + checks, pseudonym exchange with the trust centre, one Hail
    batch, grzctl's Prüfbericht generate + submit to ``genomlab serve platform`` over HTTPS, the
    Meldebestätigung fetched and filed for the hospital); grzctl clean and ``finished``.
(b) the old in-process intake: each hospital copies its folder into the GRZ's inbox folder,
    then :meth:`genomlab.genome_center.intake.GenomeCenter.submit` with the in-process platform
    reporter (as ``run_world_intake`` / ``genomlab demo`` do) and ``archive_delivered``.

Per step the benchmark records seconds: grzctl's steps as the pipeline reports them
(``SubmissionOutcome.steps``), genomlab's steps by wrapping ``GenomeCenter``'s intake methods
and the pipeline's Prüfbericht and ``db list`` commands in this process (no product hook); what
no step covers is printed as "other". Printed: ``uptime``
before, per repeat and after; per path a table of steps, the median over repeats of the
seconds per submission (a batch step such as the Hail store is divided by the submissions),
with the whole-path wall time and submissions per hour; then the phases side by side (official
/ old seconds per submission and their ratio) and per repeat the two throughputs and their
ratio. The machine is shared and noisy: read the ratios within one run, not the absolute
figures across runs. Refused submissions are not part of the benchmark (all chosen ones are
good); detailed QC is not run by either path.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORLD = REPO / "data_samples" / "world"

BOOKKEEPING = "grzctl db list (run start + end) + inbox listing (/ n)"
OFFICIAL_STEPS = [
    # (step, phase)
    ("grz-cli submit (validate+encrypt+upload)", "hospital → inbox"),
    ("grzctl db submission add", "receive + basic QC"),
    ("grzctl download", "receive + basic QC"),
    ("grzctl decrypt", "receive + basic QC"),
    ("grzctl validate", "receive + basic QC"),
    ("grzctl db should-qc", "receive + basic QC"),
    ("genomlab receive + checks", "receive + basic QC"),
    ("grzctl encrypt", "archive"),
    ("grzctl archive", "archive"),
    ("genomlab pseudonym exchange", "pseudonyms"),
    ("genomlab Hail store (batch / n)", "Hail genotype store"),
    ("grzctl pruefbericht generate", "Prüfbericht → Meldebestätigung"),
    ("grzctl pruefbericht submit", "Prüfbericht → Meldebestätigung"),
    ("Meldebestätigung fetch + file", "Prüfbericht → Meldebestätigung"),
    ("genomlab report (rest)", "Prüfbericht → Meldebestätigung"),
    ("genomlab failure reports", "finish"),
    ("genomlab sample + finish", "finish"),
    ("grzctl clean", "finish"),
    ("grzctl db submission update finished", "finish"),
    (BOOKKEEPING, "run bookkeeping"),
]
OLD_STEPS = [
    ("copy into the GRZ's inbox folder", "hospital → inbox"),
    ("genomlab receive + checks", "receive + basic QC"),
    ("archive_delivered (tanG redacted)", "archive"),
    ("genomlab pseudonym exchange", "pseudonyms"),
    ("genomlab Hail store (batch / n)", "Hail genotype store"),
    ("genomlab report (in-process Prüfbericht → Meldebestätigung)",
     "Prüfbericht → Meldebestätigung"),
    ("genomlab failure reports", "finish"),
    ("genomlab sample + finish", "finish"),
]
PHASES = ["hospital → inbox", "receive + basic QC", "archive", "pseudonyms",
          "Hail genotype store", "Prüfbericht → Meldebestätigung", "finish", "run bookkeeping"]
GRZCTL_STEP_NAMES = {"add": "grzctl db submission add", "download": "grzctl download",
                     "decrypt": "grzctl decrypt", "validate": "grzctl validate",
                     "should_qc": "grzctl db should-qc", "encrypt": "grzctl encrypt",
                     "archive": "grzctl archive", "clean": "grzctl clean",
                     "finished": "grzctl db submission update finished",
                     "pruefbericht_submit": "grzctl pruefbericht submit"}
BATCHES = "Hail batches written (count, not seconds)"
HAIL = "genomlab Hail store (batch / n)"
OTHER = "other (untimed remainder of the wall time)"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Clock:
    """Seconds per step of the path being timed (summed over its submissions)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def time(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] += time.perf_counter() - started


@contextlib.contextmanager
def patched(owner: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
    """``owner.name`` replaced by ``make(original)`` for the block (restored after)."""
    had = name in vars(owner)
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        if had:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def timed(clock: Clock, step: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with clock.time(step):
                return original(*args, **kwargs)
        return wrapper
    return make


@contextlib.contextmanager
def genomlab_timers(clock: Clock, report_step: str) -> Iterator[None]:
    """Time genomlab's intake steps (``GenomeCenter``'s methods) into ``clock``."""
    from genomlab.genome_center.intake import GenomeCenter

    with contextlib.ExitStack() as stack:
        for name, step in [("_receive_and_validate", "genomlab receive + checks"),
                           ("_pseudonymise", "genomlab pseudonym exchange"),
                           ("_store_genotypes", HAIL),
                           ("report", report_step),
                           ("_report_failure", "genomlab failure reports"),
                           ("_sample_and_finish", "genomlab sample + finish")]:
            stack.enter_context(patched(GenomeCenter, name, timed(clock, step)))
        yield


def choose_submissions(n: int, grz: str) -> list[dict[str, Any]]:
    truth = json.loads((WORLD / "truth.json").read_text())
    chosen = sorted((s for s in truth["submissions"] if s["grz"] == grz
                     and s["type"] == "initial" and len(s["samples"]) == 1),
                    key=lambda s: s["submission_id"])
    if len(chosen) < n:
        raise SystemExit(f"{WORLD}/truth.json: {grz} has only {len(chosen)} good single-sample "
                         f"initial submissions, {n} asked")
    return chosen[:n]


def fresh_home(root: Path, name: str, world: Path) -> Any:
    from genomlab.config import load_config
    from genomlab.intake import (
        record_world_consents,
        register_world_nodes,
        request_world_case_numbers,
    )

    config = load_config(environ={"GENOMLAB_HOME": str(root / name / "home")})
    register_world_nodes(config, world, actor="bench")
    request_world_case_numbers(config, world)
    record_world_consents(config, world)
    return config


def run_old(config: Any, world: Path, chosen: list[dict[str, Any]], grz: str,
            hl: Any) -> tuple[float, dict[str, float]]:
    """The old in-process intake of ``chosen``; (wall seconds, seconds per step)."""
    from genomlab.genome_center.intake import GenomeCenter
    from genomlab.intake import (
        _copy_owner_only,
        archive_delivered,
        get_inbox,
        get_pseudonym_service,
        make_platform_reporter,
    )

    clock = Clock()
    center = GenomeCenter(config, grz)
    service = get_pseudonym_service(config)
    inbox = get_inbox(config, "grz", grz)
    report_step = "genomlab report (in-process Prüfbericht → Meldebestätigung)"
    with genomlab_timers(clock, report_step):
        started = time.perf_counter()
        inbox.mkdir(parents=True, exist_ok=True)
        folders = []
        for entry in chosen:
            with clock.time("copy into the GRZ's inbox folder"):
                _copy_owner_only(world / entry["path"], inbox / entry["submission_id"])
            folders.append(inbox / entry["submission_id"])
        summary = center.submit(folders, service, reporter=make_platform_reporter(config, grz),
                                hail=lambda: hl, progress=lambda _msg: None)
        with clock.time("archive_delivered (tanG redacted)"):
            archived = archive_delivered(config, "grz", grz)
        wall = time.perf_counter() - started
    bad = {k: v for k, v in summary.states.items() if v not in ("finished", "qc_selected")}
    if summary.refused or bad or archived != len(chosen):
        raise SystemExit(f"old intake: refused {summary.refused}, states {bad}, "
                         f"archived {archived} of {len(chosen)}")
    return wall, {**clock.seconds, BATCHES: float(len(summary.batches))}


def run_official(config: Any, world: Path, chosen: list[dict[str, Any]], hl: Any,
                 tools: Any, parallel: int) -> tuple[float, dict[str, float]]:
    """grz-cli → inbox → grzctl + genomlab for ``chosen``
    (:func:`genomlab.intake.official.run_world_official_intake`, detailed QC off: the committed
    world has no reads); (wall seconds of sending and the pipeline, seconds per step)."""
    from genomlab.genome_center import grzctl_pipeline
    from genomlab.genome_center.grzctl_pipeline import GrzctlPipeline
    from genomlab.intake.official import run_world_official_intake

    clock = Clock()

    def grzctl_run(original: Any) -> Any:
        def wrapper(self: Any, *args: str) -> Any:
            if args[:2] == ("pruefbericht", "generate"):
                with clock.time("grzctl pruefbericht generate"):
                    return original(self, *args)
            if args[:2] == ("pruefbericht", "submit"):
                with clock.time("grzctl pruefbericht submit"):
                    return original(self, *args)
            if args[:2] == ("db", "list"):
                with clock.time(BOOKKEEPING):
                    return original(self, *args)
            return original(self, *args)
        return wrapper

    with genomlab_timers(clock, "genomlab report (rest)"), \
            patched(GrzctlPipeline, "grzctl_run", grzctl_run), \
            patched(GrzctlPipeline, "list_inbox", timed(clock, BOOKKEEPING)), \
            patched(grzctl_pipeline, "fetch_meldebestaetigung",
                    timed(clock, "Meldebestätigung fetch + file")):
        result = run_world_official_intake(config, world, tools=tools, hail=lambda: hl,
                                           paths=[e["path"] for e in chosen],
                                           detailed_qc=False, parallel=parallel)
    wall = result.seconds["whole"] - result.seconds["set-up"]
    wrong = {path: (o.grzdb_state, o.genomlab_state, o.refused_by, o.reason)
             for path, o in result.outcomes.items()
             if o.grzdb_state != "Finished" or o.confirmation_id is None}
    if wrong or len(result.outcomes) != len(chosen):
        raise SystemExit(f"official path: {len(result.outcomes)} outcomes, not finished: {wrong}")
    seconds = dict(clock.seconds)
    seconds[BATCHES] = float(len(result.batches))
    # "report" includes grzctl's generate + submit and the fetch: keep only the rest
    seconds["genomlab report (rest)"] = seconds.get("genomlab report (rest)", 0.0) - sum(
        seconds.get(k, 0.0) for k in ("grzctl pruefbericht generate",
                                      "grzctl pruefbericht submit",
                                      "Meldebestätigung fetch + file"))
    for outcome in result.outcomes.values():
        for key, value in outcome.steps.items():
            name = ("grz-cli submit (validate+encrypt+upload)" if key == "grz-cli submit"
                    else GRZCTL_STEP_NAMES.get(key, f"grzctl {key}"))
            seconds[name] = seconds.get(name, 0.0) + value
    return wall, seconds


def print_path(title: str, steps: list[tuple[str, str]], runs: list[tuple[float, dict]],
               n: int, parallel: int) -> dict[str, float]:
    """Print the per-step medians (seconds per submission) of one path; returns them per phase
    (with the whole path under ``"whole path"``)."""
    print(f"\n{title}: median over {len(runs)} repeat(s), seconds per submission")
    print(f"   {'step':<62} {'s/subm.':>8}")
    per_phase: dict[str, float] = defaultdict(float)
    names = [s for s, _ in steps]
    extra = sorted({k for _, sec in runs for k in sec} - set(names) - {BATCHES})
    for step, phase in [*steps, *((k, "finish") for k in extra)]:
        value = statistics.median(sec.get(step, 0.0) / n for _, sec in runs)
        per_phase[phase] += value
        print(f"   {step:<62} {value:>8.2f}")
    other = statistics.median((wall - sum(v for k, v in sec.items() if k != BATCHES)) / n
                              for wall, sec in runs)
    if parallel > 1:  # overlapping steps: the remainder means nothing
        other = 0.0
        print(f"   {OTHER:<62} {'—':>8}")
    else:
        print(f"   {OTHER:<62} {other:>8.2f}")
    walls = [wall for wall, _ in runs]
    wall = statistics.median(walls)
    print(f"   {'whole path (wall)':<62} {wall / n:>8.2f}   "
          f"= {n * 3600 / wall:.0f} submissions/hour "
          f"({n} submissions in {', '.join(f'{w:.1f}' for w in walls)} s"
          f"{'; grzctl ' + str(parallel) + ' at a time' if parallel > 1 else ''})")
    if parallel > 1:
        print("   (grzctl's steps overlap: their seconds per submission add up to more than the "
              "wall time)")
    per_phase["other"] = other
    per_phase["whole path"] = wall / n
    return per_phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=5,
                        help="Good single-sample initial submissions of the world, same on both "
                             "paths.")
    parser.add_argument("--repeats", type=int, default=2,
                        help="Repeats; each runs both paths, taking turns.")
    parser.add_argument("--grz", default="GRZK00001", help="The GRZ the submissions go to.")
    parser.add_argument("--parallel", type=int, default=1,
                        help="Submissions at a time through grzctl's steps up to the archive.")
    parser.add_argument("--driver-memory", default="2g", help="Spark driver memory.")
    parser.add_argument("--no-warmup", action="store_true",
                        help="Skip the untimed old-path run of one submission that warms Hail.")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from genomlab.config import load_config
    from genomlab.hail_session import init_hail, stop_hail
    from genomlab.intake.official import find_official_tools

    tools, missing = find_official_tools([REPO], environ={
        "GENOMLAB_GRZ_CLI": os.environ.get("PYTEST_GRZ_CLI", ""),
        "GENOMLAB_GRZCTL": os.environ.get("PYTEST_GRZCTL", "")})
    if tools is None:
        raise SystemExit(f"not installed: {'; '.join(missing)}: run .ci/setup "
                         "(makes .grzctl-venv) or set PYTEST_GRZ_CLI / PYTEST_GRZCTL")
    chosen = choose_submissions(args.submissions, args.grz)
    n = len(chosen)
    root = Path(tempfile.mkdtemp(prefix="bench-grz-paths-"))
    world = root / "world"
    shutil.copytree(WORLD, world)
    print(f"{n} submissions to {args.grz} ({len({e['hospital_ik'] for e in chosen})} "
          f"hospitals): {', '.join(e['submission_id'] for e in chosen)}")
    print(f"load before: {uptime()}")
    spark_env = {"GENOMLAB_HOME": str(root / "hail-home"),
                 "GENOMLAB_SPARK__DRIVER_MEMORY": args.driver_memory}
    t0 = time.perf_counter()
    hl = init_hail(load_config(environ=spark_env), master="local[2]")
    print(f"Hail started in {time.perf_counter() - t0:.1f} s (shared by every run)")
    if not args.no_warmup:
        t0 = time.perf_counter()
        run_old(fresh_home(root, "warmup", world), world, chosen[:1], args.grz, hl)
        print(f"warm-up (old path, 1 submission, untimed): {time.perf_counter() - t0:.1f} s")

    official: list[tuple[float, dict]] = []
    old: list[tuple[float, dict]] = []
    turns: list[tuple[float, float, str]] = []
    try:
        for r in range(args.repeats):
            order = ["official", "old"] if r % 2 == 0 else ["old", "official"]
            walls = {}
            for path in order:
                config = fresh_home(root, f"r{r}-{path}", world)
                if path == "official":
                    result = run_official(config, world, chosen, hl, tools,
                                          args.parallel)
                    official.append(result)
                else:
                    result = run_old(config, world, chosen, args.grz, hl)
                    old.append(result)
                walls[path] = result[0]
            load = uptime().split("load average:")[-1].strip()
            turns.append((walls["official"], walls["old"], load))
            hail = {p: (runs[-1][1].get(HAIL, 0.0), int(runs[-1][1].get(BATCHES, 0)))
                    for p, runs in (("official", official), ("old", old))}
            print(f"repeat {r + 1} ({' then '.join(order)}): official {walls['official']:.1f} s, "
                  f"old {walls['old']:.1f} s; Hail store official {hail['official'][0]:.1f} s "
                  f"({hail['official'][1]} batch), old {hail['old'][0]:.1f} s "
                  f"({hail['old'][1]} batch); load average {load}")
    finally:
        stop_hail()

    a = print_path("(a) official: grz-cli → S3 inbox → grzctl → genomlab → Prüfbericht → "
                   "Meldebestätigung", OFFICIAL_STEPS, official, n, args.parallel)
    b = print_path("(b) old in-process intake", OLD_STEPS, old, n, 1)
    print("\nside by side, median seconds per submission")
    print(f"   {'phase':<32} {'official':>9} {'old':>9} {'ratio':>8}")
    for phase in [*PHASES, "other", "whole path"]:
        ratio = f"{a[phase] / b[phase]:>7.1f}x" if b[phase] > 0.005 else f"{'—':>8}"
        print(f"   {phase:<32} {a[phase]:>9.2f} {b[phase]:>9.2f} {ratio}")
    print("\nper repeat (same turn, same load): submissions/hour")
    print(f"   {'repeat':>6} {'official':>9} {'old':>9} {'old/official':>13}  load average")
    for r, (wa, wb, load) in enumerate(turns, start=1):
        print(f"   {r:>6} {n * 3600 / wa:>9.0f} {n * 3600 / wb:>9.0f} {wa / wb:>12.1f}x  {load}")
    print(f"load after: {uptime()}")
    print(f"(scratch {root}: remove when done)")


if __name__ == "__main__":
    main()
