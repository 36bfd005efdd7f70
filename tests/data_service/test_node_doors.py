"""The data service releases nothing while the platform does not approve it (issue 18).

BfArM approves and supervises data services like GRZs and KDKs. A suspended data service is
refused before it verifies, records or writes anything. No Hail: the refusal comes first (the
approved control below gets past the door and stops at the Hail requirement instead).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.data_service.approval import DATA_SERVICE_NODE_ID, register_data_service
from genomlab.data_service.release import release_application
from genomlab.errors import GenomlabError
from genomlab.node_approval import NodeNotApproved
from genomlab.platform.applications.demo import run_applications_demo
from genomlab.platform.nodes import NodeRegistry
from genomlab.trust_center.service import TrustCenter
from tests.conftest import write_config_file
from tests.node_doors import get_file_listing, get_home_snapshot


def _release(config: GenomlabConfig, application_id: str) -> None:
    release_application(config, application_id, genome_nodes=[], clinical_nodes=[],
                        linkage_service=TrustCenter(config))


def test_release_application__suspended_data_service_refused_nothing_recorded(
        config: GenomlabConfig) -> None:
    application = run_applications_demo(config)
    assert register_data_service(config, actor="bfarm") == DATA_SERVICE_NODE_ID
    with pytest.raises(GenomlabError, match="genomic release needs Hail"):
        _release(config, application.application_id)  # approved: past the door
    NodeRegistry(config).suspend(DATA_SERVICE_NODE_ID, actor="bfarm", reason="audit finding")
    before, files = get_home_snapshot(config), get_file_listing(config.home / "workspaces")
    with pytest.raises(NodeNotApproved, match=f"data service release: node "
                                              f"{DATA_SERVICE_NODE_ID} is suspended"):
        _release(config, application.application_id)
    assert get_home_snapshot(config) == before  # not even a release.refused event
    assert get_file_listing(config.home / "workspaces") == files


def test_release_cli__unregistered_data_service_exits_non_zero(config: GenomlabConfig,
                                                              tmp_path: Path) -> None:
    application = run_applications_demo(config)
    before = get_home_snapshot(config)
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")),
        "data-service", "release", application.application_id])
    assert result.exit_code == 1, result.output
    assert f"node {DATA_SERVICE_NODE_ID} is not registered with the platform" in result.output
    assert get_home_snapshot(config) == before
