"""What a QC run used: thresholds, the ancestry method and reference, software versions."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from genomlab.versions import get_installed_versions

#: Distributions whose versions go into ``qc_provenance.json`` (plink2 is not used by the run).
SOFTWARE = ("genomlab", "hail", "numpy", "pandas", "scipy", "scikit-learn", "gnomad")
QC_PROVENANCE = "qc_provenance.json"


def get_qc_provenance(thresholds: Any, ancestry: dict[str, Any]) -> dict[str, Any]:
    """The record of one run: ``thresholds`` (a dataclass), the ancestry step's record, versions.

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
            "software": get_installed_versions(SOFTWARE, missing="not installed")}


def write_qc_provenance(provenance: dict[str, Any], out_dir: Path) -> Path:
    """Write ``qc_provenance.json`` (sorted keys) through a temp file; return its path."""
    path = out_dir / QC_PROVENANCE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
