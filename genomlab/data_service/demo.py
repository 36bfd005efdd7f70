"""Demo step: feasibility index and query, then the release of the approved demo application.

``genomlab demo`` (the lead's) calls :func:`run_data_service_demo` after the node intake, the
trust centre's consent records and the platform's approval (``run_applications_demo``).
Idempotent: when the application's release is already in its workspace, nothing is appended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import get_node_readers
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index
from genomlab.data_service.release import ReleaseResult, release_application
from genomlab.hail_session import HailModule


@dataclass(frozen=True)
class DataServiceDemo:
    """What the demo step did: the feasibility answer (``None`` if done before), the release."""

    feasibility: dict[str, Any] | None
    release: ReleaseResult


def run_data_service_demo(config: GenomlabConfig, application_id: str, *, hl: HailModule,
                          user: str = "alice") -> DataServiceDemo:
    """Index the nodes, answer one feasibility query, release ``application_id``.

    Examples
    --------
    >>> demo = run_data_service_demo(config, "APP-000001", hl=hl)  # doctest: +SKIP
    >>> demo.release.path.name  # doctest: +SKIP
    'release'
    """
    from genomlab.platform.applications import get_signed_approval
    from genomlab.trust_center.service import TrustCenter

    project = str(get_signed_approval(config, application_id).body["project_id"])
    release = config.workspace_dir(project) / "release"
    if (release / "manifest.json").exists():
        manifest = json.loads((release / "manifest.json").read_text())
        if manifest["application_id"] == application_id:
            return DataServiceDemo(None, ReleaseResult(manifest["release_id"], release, manifest,
                                                       ()))
    grzs, kdks = get_node_readers(config, hl)
    build_feasibility_index(config, grzs, kdks)
    answer = run_feasibility_query(config, make_request(["diseaseType:rare"],
                                                        granularity="count"), user=user)
    result = release_application(config, application_id, genome_nodes=grzs, clinical_nodes=kdks,
                                 linkage_service=TrustCenter(config), hl=hl)
    return DataServiceDemo(answer, result)
