"""The trust centre's case-number exchange refuses a node the platform does not approve now."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from genomlab.cli import main
from genomlab.config import GenomlabConfig
from genomlab.node_approval import NodeNotApproved
from genomlab.platform.nodes import NodeRegistry
from genomlab.trust_center.service import TrustCenter
from tests.conftest import write_config_file
from tests.node_doors import get_home_snapshot
from tests.trust_center.conftest import GRZ, KDK, LE_IK, make_kvnr


def test_exchange_case_number__suspended_node_refused_case_number_stays_unused(
        config: GenomlabConfig, tc: TrustCenter) -> None:
    vns = tc.request_case_numbers(kvnr=make_kvnr(11), arbeitsnummer="AN-11", le_ik=LE_IK,
                                  le_name="Uniklinik Test", actor="le")
    registry = NodeRegistry(config)
    registry.suspend(GRZ, actor="bfarm", reason="audit finding")
    before = get_home_snapshot(config)
    with pytest.raises(NodeNotApproved, match=f"node {GRZ} is suspended, not approved"):
        tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
    assert get_home_snapshot(config) == before  # no exchange, no refusal event, no row
    registry.approve(GRZ, actor="bfarm", reason="audit closed")
    pseudonym = tc.exchange_case_number(vns.genomic, node_id=GRZ, domain="genomic")
    assert pseudonym.startswith("GDP1-")  # the case number was not used up by the refusal


def test_exchange_case_number__unregistered_node_refused(config: GenomlabConfig,
                                                         tc: TrustCenter) -> None:
    vns = tc.request_case_numbers(kvnr=make_kvnr(12), arbeitsnummer="AN-12", le_ik=LE_IK,
                                  le_name="Uniklinik Test", actor="le")
    before = get_home_snapshot(config)
    with pytest.raises(NodeNotApproved, match="node KDKZZZ999 is not registered"):
        tc.exchange_case_number(vns.clinical, node_id="KDKZZZ999", domain="clinical")
    assert get_home_snapshot(config) == before


def test_trust_center_cli__exchange_for_revoked_node_exits_non_zero(config: GenomlabConfig,
                                                                   tc: TrustCenter,
                                                                   tmp_path) -> None:
    vns = tc.request_case_numbers(kvnr=make_kvnr(13), arbeitsnummer="AN-13", le_ik=LE_IK,
                                  le_name="Uniklinik Test", actor="le")
    NodeRegistry(config).revoke(KDK, actor="bfarm", reason="approval withdrawn")
    before = get_home_snapshot(config)
    result = CliRunner().invoke(main, [
        "--config", str(write_config_file(config, tmp_path / "genomlab.toml")), "trust-center",
        "case-numbers", "exchange", vns.clinical, "--node", KDK, "--domain", "clinical"])
    assert result.exit_code == 1, result.output
    assert f"node {KDK} is revoked, not approved by the platform" in result.output
    assert get_home_snapshot(config) == before
