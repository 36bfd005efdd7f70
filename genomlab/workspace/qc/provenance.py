"""What a QC run used, written next to its tables: thresholds, engine, reference panel and the
versions of the software, so a result can be reproduced and reviewed (``qc_run.json``)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PROVENANCE_FILE = "qc_run.json"
_PACKAGES = ("genomlab", "hail", "pyspark", "numpy", "pandas", "scipy", "pyarrow")
_TOOLS = {"bcftools": ["bcftools", "--version"], "plink2": ["plink2", "--version"],
          "java": ["java", "-version"]}


def get_software_versions() -> dict[str, str | None]:
    """Versions of Python, the QC's packages and the command-line tools (``None``: absent).

    Examples
    --------
    >>> versions = get_software_versions()
    >>> versions["numpy"] == metadata.version("numpy"), "bcftools" in versions
    (True, True)
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    for tool, command in _TOOLS.items():
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            versions[tool] = None
            continue
        lines = (done.stdout + done.stderr).strip().splitlines()
        versions[tool] = lines[0].strip() if done.returncode == 0 and lines else None
    return versions


def write_qc_provenance(out_dir: Path, *, thresholds: Any, engine: str, inputs: dict[str, Any],
                        spark_master: str | None, reference_panel: str | None = None) -> Path:
    """Write ``out_dir/qc_run.json`` (atomically) and return its path.

    ``thresholds`` is the run's ``QcThresholds``; ``engine`` how the genotypes were read
    (``stream`` or ``hail``); ``inputs`` the input paths; ``reference_panel`` the ancestry
    reference used, if any.
    """
    record = {
        "thresholds": dataclasses.asdict(thresholds),
        "engine": engine,
        "spark_master": spark_master,
        "reference_panel": reference_panel,
        "inputs": {k: str(v) if v is not None else None for k, v in inputs.items()},
        "software": get_software_versions(),
    }
    path = out_dir / PROVENANCE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
