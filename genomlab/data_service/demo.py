"""Demo step: feasibility index and query, then the release of the approved demo application.

``genomlab demo`` (the lead's) calls :func:`run_data_service_demo` after the node intake, the
trust centre's consent records and the platform's approval (``run_applications_demo``).
Idempotent: when the application's release is already in its workspace, nothing is appended.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genomlab.config import GenomlabConfig
from genomlab.data_service.adapters import get_node_readers
from genomlab.data_service.beacon import make_request
from genomlab.data_service.feasibility import run_feasibility_query
from genomlab.data_service.index import build_feasibility_index
from genomlab.data_service.nodes import ClinicalNodeReader, GenomeNodeReader
from genomlab.data_service.release import LinkageService, ReleaseResult, release_application
from genomlab.hail_session import HailModule


@dataclass(frozen=True)
class DataServiceCalls:
    """Where the step's calls go when the institutions run as services: the person's
    feasibility query (the data service's client), the linkage map (the trust-centre service's
    client), the clinical fields (the KDK services' readers) and the GRZs' attributes, site
    counts and cohort genotypes (the GRZ services' readers; the caller closes them after the
    release, which removes the downloaded genotypes). Without it, in-process."""

    feasibility: Callable[[dict[str, Any]], dict[str, Any]]
    linkage: LinkageService
    clinical_nodes: Sequence[ClinicalNodeReader]
    genome_nodes: Sequence[GenomeNodeReader]
    build_index: Callable[[], object]
    """The data service's operator has the running data service rebuild its feasibility index
    from the node services (:meth:`genomlab.clients.data_service.DataServiceOperatorClient.
    build_feasibility_index`)."""


@dataclass(frozen=True)
class DataServiceDemo:
    """What the demo step did: the feasibility answer (``None`` if done before), the release."""

    feasibility: dict[str, Any] | None
    release: ReleaseResult


def run_data_service_demo(config: GenomlabConfig, application_id: str, *, hl: HailModule,
                          user: str = "alice",
                          calls: DataServiceCalls | None = None) -> DataServiceDemo:
    """Index the nodes, answer one feasibility query, release ``application_id``.

    With ``calls`` the query, the linkage map, the clinical fields and the genotypes go to the
    running services, and the data service rebuilds its index from the node services'
    attributes and the GRZ services' site counts; no node's store is opened in this process.

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
    genome: Sequence[GenomeNodeReader]
    clinical: Sequence[ClinicalNodeReader]
    if calls is None:
        genome, clinical = get_node_readers(config, hl)
        build_feasibility_index(config, genome, clinical)
    else:
        genome, clinical = calls.genome_nodes, calls.clinical_nodes
        calls.build_index()
    request = make_request(["diseaseType:rare"], granularity="count")
    answer = (run_feasibility_query(config, request, user=user) if calls is None
              else calls.feasibility(request))
    result = release_application(
        config, application_id, genome_nodes=genome, clinical_nodes=clinical,
        linkage_service=TrustCenter(config) if calls is None else calls.linkage, hl=hl)
    return DataServiceDemo(answer, result)
