"""Run :class:`GrzctlPipeline` in a process of its own, for the SIGKILL tests.

``python -m tests.genome_center.grzctl_runner SPEC.json``: the spec (written by
:func:`write_spec`) names the home, grzctl, its configuration and work folder, the GRZ, the inbox
and the Prüfbericht API, and the submission ids to run. ``GL_CRASHPOINT`` kills the process at a
named point (:mod:`genomlab.crashpoints`). Hail starts only if genotypes are stored (Spark on
``local[2]``, 2 GB: the test's own Spark runs beside it). Prints the outcomes as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from genomlab.genome_center.grz_tools import S3Target
from genomlab.genome_center.grzctl_pipeline import GrzctlPipeline, PruefberichtApi
from genomlab.intake.official import file_confirmation


def write_spec(path: Path, *, home: Path, pipeline: GrzctlPipeline,
               submission_ids: list[str]) -> Path:
    """The runner's spec for ``pipeline`` on ``home``, to run ``submission_ids``."""
    api = dataclasses.asdict(pipeline.api)
    api["ca_file"] = None if pipeline.api.ca_file is None else str(pipeline.api.ca_file)
    path.write_text(json.dumps({
        "home": str(home), "grzctl": str(pipeline.grzctl),
        "config_file": str(pipeline.config_file), "work": str(pipeline.work),
        "grz_id": pipeline.grz_id, "inbox": dataclasses.asdict(pipeline.inbox), "api": api,
        "submission_ids": submission_ids}))
    return path


def main(spec_file: str) -> None:
    from genomlab.intake import _hail_starter, get_pseudonym_service
    from tests.conftest import config_for

    spec = json.loads(Path(spec_file).read_text())
    config = config_for(Path(spec["home"]), GENOMLAB_SPARK__MASTER="local[2]",
                        GENOMLAB_SPARK__DRIVER_MEMORY="2g")
    api = dict(spec["api"])
    api["ca_file"] = None if api["ca_file"] is None else Path(api["ca_file"])
    pipeline = GrzctlPipeline(Path(spec["grzctl"]), Path(spec["config_file"]),
                              Path(spec["work"]), grz_id=spec["grz_id"],
                              inbox=S3Target(**spec["inbox"]),
                              pruefbericht=PruefberichtApi(**api))
    run = pipeline.run(config, get_pseudonym_service(config), hail=_hail_starter(config),
                       submission_ids=spec["submission_ids"],
                       on_confirmation=lambda data, body: file_confirmation(config, data, body))
    print(json.dumps({sid: dataclasses.asdict(o) for sid, o in run.outcomes.items()}))


if __name__ == "__main__":
    main(sys.argv[1])
