"""An approved project on the real platform, with outputs in its workspace.

People (from the platform tests' population): ``alice`` applied (author), ``tom`` is on her team,
``hanna`` and ``ute`` are the platform's output checkers (not on the team).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from genomlab.airlock.directory import PlatformDirectory
from genomlab.airlock.requests import get_outputs_dir
from genomlab.config import GenomlabConfig
from tests.platform.conftest import approve_application


@dataclass
class Project:
    config: GenomlabConfig
    directory: PlatformDirectory
    project: str
    application_id: str
    outputs: Path

    def write(self, name: str, text: str) -> Path:
        path = self.outputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


@pytest.fixture
def project(config: GenomlabConfig) -> Project:
    project_id, application_id = approve_application(config)
    outputs = get_outputs_dir(config, project_id)
    outputs.mkdir(parents=True)
    return Project(config, PlatformDirectory(config), project_id, application_id, outputs)
