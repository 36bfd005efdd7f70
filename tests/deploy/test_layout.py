"""Names, project members and systemd units of the separated deployment (no root needed)."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from genomlab.config import GenomlabConfig
from genomlab.deploy.launch import get_service_instances
from genomlab.deploy.layout import (
    check_prefix,
    compute_layout,
    get_account_name,
    get_project_group_name,
    parse_member_accounts,
)
from genomlab.deploy.systemd import get_unit_name, render_unit, write_units
from genomlab.errors import ValidationFailed
from genomlab.institution import Institution
from tests.conftest import config_for


@pytest.mark.parametrize(("kind", "node", "account"), [
    ("platform", None, "genomlab-platform"), ("trust_center", None, "genomlab-trust-center"),
    ("data_service", None, "genomlab-data-service"), ("airlock", None, "genomlab-airlock"),
    ("grz", "GRZK00001", "genomlab-grz-grzk00001"), ("kdk", "KDKTUE005", "genomlab-kdk-kdktue005")])
def test_get_account_name__one_per_instance(config: GenomlabConfig, kind: str, node: str | None,
                                            account: str) -> None:
    assert get_account_name("genomlab-", Institution(config, kind, node)) == account  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "evil-", "genomlab", "genomlab-A-", "genomlab-a_b-"])
def test_check_prefix__refuses_names_outside_genomlab(prefix: str) -> None:
    with pytest.raises(ValidationFailed, match="field prefix"):
        check_prefix(prefix)


def test_get_project_group_name__refuses_a_name_useradd_would_refuse() -> None:
    assert get_project_group_name("genomlab-", "GDE-2026-0001") == "genomlab-p-gde-2026-0001"
    with pytest.raises(ValidationFailed, match="longer than 32"):
        get_project_group_name("genomlab-averyverylongtag-", "GDE-2026-0001")


def test_parse_member_accounts__refuses_a_pair_without_account() -> None:
    assert parse_member_accounts(("alice=ada", "tom=t")) == {"alice": "ada", "tom": "t"}
    with pytest.raises(ValidationFailed, match="--member-account: 'alice'"):
        parse_member_accounts(("alice",))


def test_compute_layout__project_members_are_the_entitled_team(config: GenomlabConfig) -> None:
    from genomlab.platform.applications.demo import run_applications_demo

    project = run_applications_demo(config).project_id  # alice applied, tom on the team
    config.workspace_dir(project).mkdir(parents=True)
    Institution(config, "platform").engine()
    layout = compute_layout(config, member_accounts={"alice": "ada"},
                            account_exists=lambda name: name == "tom")
    (group,) = layout.projects
    assert (group.project, group.members, group.unmapped) == (project, ("ada", "tom"), ())
    assert layout.account_of("platform") == "genomlab-platform"
    nobody = compute_layout(config, account_exists=lambda name: False).projects[0]
    assert (nobody.members, nobody.unmapped) == ((), ("alice", "tom"))


def test_write_units__one_hardened_unit_per_service_that_systemd_accepts(
        tmp_path: Path) -> None:
    config = config_for(Path("/var/lib/genomlab"))
    written = write_units(config, tmp_path, python="/usr/bin/python3")
    services = [get_unit_name("genomlab-", i) for i in get_service_instances(config)]
    assert [p.name for p in written] == [*services, "genomlab.target"]
    assert services[0] == "genomlab-platform.service"
    unit = written[0].read_text()
    for line in ("User=genomlab-platform", "SupplementaryGroups=genomlab-services",
                 "StateDirectory=genomlab/platform", "StateDirectoryMode=0700",
                 "ProtectHome=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "UMask=0077",
                 "ExecStart=/usr/bin/python3 -m genomlab.cli serve platform --host 127.0.0.1 "
                 "--port 0"):
        assert line in unit.splitlines()
    assert f"Wants={' '.join(services)}" in written[-1].read_text().splitlines()
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "verify", *map(str, written[:-1])],
                               capture_output=True, text=True, check=False)
        assert (check.returncode, check.stderr) == (0, "")


def test_render_unit__pyenv_python_under_root_shown_read_only(tmp_path: Path) -> None:
    config = config_for(tmp_path / "srv" / "home")
    unit = render_unit(config, Institution(config, "platform"),
                       python="/root/.pyenv/versions/3.12.1/bin/python3.12").splitlines()
    assert "ProtectHome=tmpfs" in unit
    assert "BindReadOnlyPaths=/root/.pyenv" in unit
    assert f"ReadWritePaths={(tmp_path / 'srv' / 'home' / 'platform').resolve()}" in unit


def test_render_unit__refuses_a_home_that_protecthome_hides() -> None:
    config = config_for(Path("/home/ada/genomlab-home"))
    with pytest.raises(ValidationFailed, match="ProtectHome"):
        render_unit(config, Institution(config, "platform"))


def _deploy(config: GenomlabConfig, *args: str) -> Result:
    from genomlab.cli import main

    return CliRunner().invoke(main, ["deploy", *args], env={"GENOMLAB_HOME": str(config.home)})


def test_deploy_setup__refused_in_one_line_without_root(config: GenomlabConfig,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    result = _deploy(config, "setup")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: deploy setup: must run as root (makes accounts and changes owners); --dry-run "
        "shows the plan without"]
    assert not config.home.exists()


def test_deploy_setup__refuses_a_home_other_accounts_cannot_reach(
        config: GenomlabConfig, tmp_path: Path) -> None:
    Institution(config, "platform").engine()
    tmp_path.chmod(0o700)  # as pytest's own temporary folders are
    before = sorted(str(p) for p in config.home.rglob("*"))
    result = _deploy(config, "setup", "--dry-run")
    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1
    named = re.search(r"field home: (\S+) is not passable by other accounts", result.output)
    assert named is not None
    assert Path(named.group(1)) in config.home.parents
    assert not Path(named.group(1)).stat().st_mode & stat.S_IXOTH
    assert sorted(str(p) for p in config.home.rglob("*")) == before


def test_get_process_uids__a_process_that_ended_unreaped_no_longer_lives() -> None:
    """A zombie (ended, not yet reaped by its parent) is still listed in ``/proc`` with its
    UIDs; ``deploy teardown`` waited for such entries of its stopped services to vanish."""
    import os
    import select

    from genomlab.deploy.system import get_process_uids

    child = subprocess.Popen(["sleep", "0"])
    try:
        pidfd = os.pidfd_open(child.pid)
        try:  # readable once the child has ended; it stays unreaped until the wait below
            assert select.select([pidfd], [], [], 30)[0], "sleep 0 did not end"
        finally:
            os.close(pidfd)
        status = Path(f"/proc/{child.pid}/status").read_text()
        assert "State:\tZ" in status  # still listed, with its UIDs ...
        assert get_process_uids(child.pid) is None  # ... but no longer a living process
    finally:
        child.wait()
    assert get_process_uids(os.getpid()) == (os.getuid(),) * 4
