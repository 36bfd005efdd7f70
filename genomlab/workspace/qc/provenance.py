"""What a QC run used, written next to its tables (``qc_provenance.json``): thresholds, how the
genotypes were read (engine, Spark master, inputs), the ancestry method and reference, and the
versions of the packages and command-line tools, so a result can be reproduced and reviewed."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from genomlab.versions import get_installed_versions

#: Distributions whose versions go into ``qc_provenance.json``.
SOFTWARE = ("genomlab", "hail", "pyspark", "numpy", "pandas", "scipy", "pyarrow",
            "scikit-learn", "gnomad")
#: Command-line tools the streamed engine may call, with how to ask their version.
TOOLS = {"bcftools": ["bcftools", "--version"], "plink2": ["plink2", "--version"],
         "java": ["java", "-version"]}
QC_PROVENANCE = "qc_provenance.json"


def get_tool_versions() -> dict[str, str | None]:
    """First line of each tool's version output (``None``: not installed or failing).

    Examples
    --------
    >>> "bcftools" in get_tool_versions()
    True
    """
    versions: dict[str, str | None] = {}
    for tool, command in TOOLS.items():
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            versions[tool] = None
            continue
        lines = (done.stdout + done.stderr).strip().splitlines()
        versions[tool] = lines[0].strip() if done.returncode == 0 and lines else None
    return versions


def get_qc_provenance(thresholds: Any, ancestry: dict[str, Any]) -> dict[str, Any]:
    """The record of one run: ``thresholds`` (a dataclass), the ancestry step's record, versions.

    :func:`~genomlab.workspace.qc.pipeline.run_cohort_qc` adds ``engine``, ``spark_master``
    and ``inputs``.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class T:
    ...     min_call_rate: float = 0.97
    >>> record = get_qc_provenance(T(), {"method": "cohort"})
    >>> record["thresholds"], record["ancestry"]["method"]
    ({'min_call_rate': 0.97}, 'cohort')
    """
    values = asdict(thresholds) if is_dataclass(thresholds) and not isinstance(
        thresholds, type) else dict(thresholds)
    return {"thresholds": values, "ancestry": ancestry,
            "software": {**get_installed_versions(SOFTWARE, missing="not installed"),
                         **get_tool_versions()}}


def write_qc_provenance(provenance: dict[str, Any], out_dir: Path) -> Path:
    """Write ``qc_provenance.json`` (sorted keys) through a temp file; return its path."""
    path = out_dir / QC_PROVENANCE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path
