"""Who owns what in a separated deployment: accounts, project groups and the rules for each folder.

One OS account per institution instance (``<prefix><kind>[-<node id>]``, lower case, ``_`` as
``-``), a system account with no login shell whose home folder is the instance's folder. One
group per project (``<prefix>p-<project id>``) whose members are the OS accounts of the project's
entitled team members, as the platform records them. One group (``<prefix>services``) holds the
service accounts, so that each service can write its record under ``<home>/services/``.

The rules (:class:`TreeRule`) say which owner, group and modes every entry under a folder
should have: an instance folder is its account's, folders 0700, files 0600 (keys included); a
project's release belongs to the data service's account and the project group, folders 2750,
files 0640, so the project's members read it and nobody else does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from genomlab.config import GenomlabConfig
from genomlab.errors import ValidationFailed
from genomlab.institution import Institution, existing_institutions
from genomlab.services.runner import get_service_record_path

DEFAULT_PREFIX = "genomlab-"
"""Every account and group the deployment makes starts with this (tests add a run tag)."""
MAX_NAME_LENGTH = 32
"""Longest user or group name ``useradd``/``groupadd`` accept (shadow-utils, Debian)."""
_PREFIX = re.compile(r"^genomlab-([a-z0-9]+-)?$")


@dataclass(frozen=True)
class InstanceAccount:
    """One institution instance and the OS account it runs under."""

    institution: Institution
    account: str

    @property
    def folder(self) -> Path:
        return self.institution.directory


@dataclass(frozen=True)
class ProjectGroup:
    """One project's group: its members' OS accounts, and the platform users without one."""

    project: str
    group: str
    members: tuple[str, ...]
    unmapped: tuple[str, ...]
    workspace: Path

    @property
    def release(self) -> Path:
        return self.workspace / "release"


@dataclass(frozen=True)
class TreeRule:
    """Owner, group and modes of ``root`` (and, if ``recursive``, of everything under it).

    ``owner``/``group`` are names; ``None`` keeps what is there.
    """

    root: Path
    owner: str | None
    group: str | None
    dir_mode: int
    file_mode: int
    recursive: bool = True


@dataclass(frozen=True)
class Layout:
    """The separated deployment of one home."""

    home: Path
    prefix: str
    instances: tuple[InstanceAccount, ...]
    projects: tuple[ProjectGroup, ...]
    services_group: str

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(i.account for i in self.instances)

    def account_of(self, kind: str) -> str | None:
        """The account of the singleton instance ``kind`` (``None`` if it has no folder)."""
        return next((i.account for i in self.instances
                     if i.institution.kind == kind and i.institution.node_id is None), None)

    def get_tree_rules(self) -> list[TreeRule]:
        """Every rule, top of the home first (folders the deployment leaves alone are absent)."""
        rules = [TreeRule(self.home, None, None, 0o711, 0o600, recursive=False),
                 TreeRule(self.home / "services", None, self.services_group, 0o1770, 0o600,
                          recursive=False),
                 TreeRule(self.home / "tmp", None, None, 0o1777, 0o600, recursive=False)]
        rules += [TreeRule(self.home / kind, None, None, 0o711, 0o600, recursive=False)
                  for kind in sorted({i.institution.kind for i in self.instances
                                      if i.institution.node_id is not None})]
        rules += [TreeRule(i.folder, i.account, i.account, 0o700, 0o600) for i in self.instances]
        for instance in self.instances:  # a record left by an earlier run: the account replaces it
            record = get_service_record_path(instance.institution.config, instance.institution)
            rules += [TreeRule(path, instance.account, instance.account, 0o700, 0o644,
                               recursive=False)
                      for path in (record, record.with_suffix(".ca.pem"))]
        data_service = self.account_of("data_service")
        if self.projects:
            rules.append(TreeRule(self.home / "workspaces", None, None, 0o711, 0o600,
                                  recursive=False))
        for project in self.projects:
            rules.append(TreeRule(project.workspace, data_service, project.group, 0o3770, 0o660,
                                  recursive=False))
            rules.append(TreeRule(project.release, data_service, project.group, 0o2750, 0o640))
        return rules


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is ``genomlab-`` or ``genomlab-<tag>-`` (lower-case letters, digits)."""
    if not _PREFIX.match(prefix):
        raise ValidationFailed(f"deploy: field prefix: {prefix!r} must be 'genomlab-' or "
                               "'genomlab-<tag>-' (a-z, 0-9)")
    return prefix


def _checked_name(name: str, what: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(f"deploy: field prefix: {what} name {name!r} is longer than "
                               f"{MAX_NAME_LENGTH} characters; use a shorter prefix")
    return name


def get_account_name(prefix: str, institution: Institution) -> str:
    """``genomlab-platform``, ``genomlab-trust-center``, ``genomlab-grz-grzk00001``, ...

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> get_account_name("genomlab-", Institution(load_config(environ={}), "grz", "GRZK00001"))
    'genomlab-grz-grzk00001'
    """
    slug = institution.name.replace(":", "-").replace("_", "-").lower()
    return _checked_name(check_prefix(prefix) + slug, "account")


def get_project_group_name(prefix: str, project: str) -> str:
    """``genomlab-p-gde-2026-0001`` for project ``GDE-2026-0001``."""
    return _checked_name(check_prefix(prefix) + "p-" + project.lower(), "group")


def parse_member_accounts(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("alice=ada",)`` -> ``{"alice": "ada"}``: platform user to OS account."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        user, sep, account = pair.partition("=")
        if not sep or not user or not account:
            raise ValidationFailed(f"deploy: field --member-account: {pair!r} is not "
                                   "PLATFORM_USER=OS_ACCOUNT")
        mapping[user] = account
    return mapping


def get_project_members(config: GenomlabConfig, project: str) -> tuple[str, ...]:
    """The project's team members whose entitlement is active now, as the platform records them."""
    from genomlab.platform.applications import get_team, is_entitled

    return tuple(u for u in get_team(config, project) if is_entitled(config, u, project))


def compute_layout(config: GenomlabConfig, *, prefix: str = DEFAULT_PREFIX,
                   member_accounts: Mapping[str, str] | None = None,
                   account_exists: Callable[[str], bool]) -> Layout:
    """The deployment of ``config``'s home: an account per existing instance, a group per
    project workspace.

    A platform user maps to ``member_accounts[user]``, else to the OS account of the same name
    when ``account_exists`` says there is one; a user without an account is listed as unmapped
    and gets no access.
    """
    mapping = dict(member_accounts or {})
    instances = tuple(InstanceAccount(i, get_account_name(prefix, i))
                      for i in existing_institutions(config))
    projects: list[ProjectGroup] = []
    workspaces = config.home / "workspaces"
    for folder in sorted(workspaces.iterdir()) if workspaces.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        users = get_project_members(config, folder.name)
        accounts = {u: mapping.get(u, u) for u in users}
        members = tuple(sorted({a for u, a in accounts.items()
                                if u in mapping or account_exists(a)}))
        unmapped = tuple(u for u in users if u not in mapping and not account_exists(u))
        projects.append(ProjectGroup(folder.name, get_project_group_name(prefix, folder.name),
                                     members, unmapped, folder))
    return Layout(config.home, prefix, instances, tuple(projects),
                  _checked_name(prefix + "services", "group"))
