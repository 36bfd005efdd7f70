"""genomlab's JupyterHub configuration: loopback only, PAM, the local spawner, platform groups."""

from __future__ import annotations

import runpy
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from genomlab.clock import use_clock
from genomlab.config import GenomlabConfig
from genomlab.errors import ValidationFailed
from genomlab.hub.groups import get_hub_groups
from genomlab.hub.hub_config import HubSettings, render_hub_config
from genomlab.platform.applications.demo import run_applications_demo
from tests.conftest import write_config_file


class _Traits(SimpleNamespace):
    def __getattr__(self, name: str) -> Any:  # c.Section.trait = value, as traitlets does
        section = _Traits()
        setattr(self, name, section)
        return section


def _load(text: str, path: Path) -> Any:
    path.write_text(text)
    c = _Traits()
    runpy.run_path(str(path), init_globals={"get_config": lambda: c})
    return c


def test_render_hub_config__pam_local_spawner_and_platform_groups(
    config: GenomlabConfig, tmp_path: Path
) -> None:
    demo = run_applications_demo(config)
    toml = write_config_file(config, tmp_path / "genomlab.toml")
    settings = HubSettings(
        toml,
        tmp_path / "hub",
        port=18000,
        hub_port=18081,
        proxy_api_port=18001,
        proxy=Path("/opt/chp"),
    )
    c = _load(render_hub_config(settings), tmp_path / "jupyterhub_config.py")
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    assert c.JupyterHub.bind_url == "http://127.0.0.1:18000"
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:18081"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:18001"
    assert c.Spawner.ip == "127.0.0.1"
    assert c.Spawner.environment["GENOMLAB_CONFIG"] == str(toml)
    assert c.Authenticator.admin_users == set()
    # the demo's people have no OS accounts here: nobody may sign in, every group is empty
    assert c.Authenticator.allowed_users == set()
    assert set(c.JupyterHub.load_groups) >= {"decider", "researcher", f"project-{demo.project_id}"}
    assert all(g["users"] == [] for g in c.JupyterHub.load_groups.values())


def test_hub_settings__refuse_an_address_other_than_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="loopback only"):
        HubSettings(tmp_path / "genomlab.toml", tmp_path, ip="0.0.0.0", proxy=Path("/chp"))
    with pytest.raises(ValidationFailed, match="four different ports"):
        HubSettings(
            tmp_path / "genomlab.toml", tmp_path, port=8000, hub_port=8000, proxy=Path("/chp")
        )


def test_get_hub_groups__roles_and_active_projects(config: GenomlabConfig) -> None:
    with use_clock(lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC)):
        demo = run_applications_demo(config)
    groups = get_hub_groups(config, at=datetime(2026, 6, 1, tzinfo=UTC))
    assert groups["decider"] == ["dora"]
    assert groups["committee"] == ["kurt"]
    assert groups["handler"] == ["hanna"]
    assert groups["output-checker"] == ["hanna", "otto"]
    assert groups["platform-admin"] == ["bfarm-admin"]
    assert groups["trust-centre-officer"] == []
    project = f"project-{demo.project_id}"
    assert groups[project] == groups["researcher"] == ["alice", "tom"]
    later = get_hub_groups(config, at=datetime(2099, 1, 1, tzinfo=UTC))
    assert later[project] == later["researcher"] == []  # entitlement over: out of the groups


def test_render_hub_config__servers_in_network_namespaces_unless_turned_off(
    config: GenomlabConfig, tmp_path: Path
) -> None:
    from genomlab.hub.netns import PersonNetworks

    toml = write_config_file(config, tmp_path / "genomlab.toml")
    settings = HubSettings(
        toml, tmp_path / "hub", hub_port=18081, service_port=18002, proxy=Path("/opt/chp")
    )
    c = _load(render_hub_config(settings), tmp_path / "jupyterhub_config.py")
    networks = c.Spawner.post_stop_hook.__self__
    assert isinstance(networks, PersonNetworks)
    assert networks.hub_ports == (18081, 18002)  # the hub's API and genomlab-people
    assert callable(c.Spawner.pre_spawn_hook)
    off = HubSettings(toml, tmp_path / "hub", isolate_network=False, proxy=Path("/opt/chp"))
    c = _load(render_hub_config(off), tmp_path / "jupyterhub_config_off.py")
    assert isinstance(c.Spawner.post_stop_hook, _Traits)  # never set


def test_hub_settings__refuse_a_group_prefix_the_deployment_would_not_use(tmp_path: Path) -> None:
    assert HubSettings(tmp_path / "g.toml", tmp_path, group_prefix="genomlab-t1-", proxy=Path("/c"))
    with pytest.raises(ValidationFailed, match="prefix"):
        HubSettings(tmp_path / "g.toml", tmp_path, group_prefix="staff-", proxy=Path("/c"))


def test_render_hub_config__servers_keep_warm_kernels_for_dashboards(
    config: GenomlabConfig, tmp_path: Path
) -> None:
    toml = write_config_file(config, tmp_path / "genomlab.toml")

    def spawner_args(**options: Any) -> list[str]:
        settings = HubSettings(toml, tmp_path / "hub", proxy=Path("/chp"), **options)
        c = _load(render_hub_config(settings), tmp_path / "jupyterhub_config.py")
        return list(c.Spawner.args)

    args = spawner_args()
    kernel_manager = "genomlab.dashboards.kernel_pool.WarmKernelManager"
    assert f"--ServerApp.kernel_manager_class={kernel_manager}" in args
    assert "--WarmKernelManager.pool_size=1" in args
    assert "--WarmKernelManager.pool_size=0" in spawner_args(dashboard_kernels=0)
    with pytest.raises(ValidationFailed, match="dashboard_kernels 9"):
        HubSettings(tmp_path / "genomlab.toml", tmp_path, proxy=Path("/chp"), dashboard_kernels=9)
