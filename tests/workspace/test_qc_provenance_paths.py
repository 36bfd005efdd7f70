"""QC provenance records an input inside the home relative to it, so a moved home stays true."""

from __future__ import annotations

from pathlib import Path

from genomlab.config import GenomlabConfig
from genomlab.workspace.qc.pipeline import _recorded_path


def test_recorded_path__inside_home_relative_outside_absolute(config: GenomlabConfig,
                                                              tmp_path: Path) -> None:
    release = config.workspace_dir("GDE-2026-0001") / "release"
    assert _recorded_path(release, config) == "workspaces/GDE-2026-0001/release"
    outside = tmp_path.parent / "elsewhere" / "cohort.vcf.bgz"
    assert _recorded_path(outside, config) == str(outside)
    assert _recorded_path(release, None) == str(release)
