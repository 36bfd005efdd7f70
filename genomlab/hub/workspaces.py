"""Project workspaces closed to everyone but the project's members, set by the hub.

Before each person's server starts (the pre-spawn hook, :mod:`genomlab.hub.spawn`), the hub
(root) brings every project workspace under ``<home>/workspaces/`` to the same rules
``genomlab deploy setup`` uses (:mod:`genomlab.deploy.layout`):

- each project has an OS group ``<prefix>p-<project id>`` (``genomlab-p-gde-2026-0001``) whose
  members are exactly the OS accounts of the project's team members entitled now (the
  platform's records); it is created or its members replaced (same GID, ``groupadd`` /
  ``groupdel`` through :mod:`genomlab.deploy.system`);
- ``<home>/workspaces`` is 0711 (passable, not listable): nobody learns other projects' ids;
- a workspace is its project group's, 3770 (setgid: new files get the group; sticky: members
  do not delete each other's files; nothing for others); its ``release/`` is the group's,
  folders 2750 and files 0640 (read, not changed, by the members);
- everything else in a workspace gets the group and the owner's rights for the group
  (setgid on folders), and loses every right of others.

The server's process gets its supplementary groups when it starts (JupyterHub's switch to the
account reads them then); a withdrawn entitlement closes the workspace to that person at their
next server start (a running process keeps the groups it has).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from genomlab.config import GenomlabConfig
from genomlab.deploy import system
from genomlab.deploy.layout import DEFAULT_PREFIX, ProjectGroup, TreeRule, compute_layout
from genomlab.hub.groups import has_os_account


def _share_with_group(workspace: Path, gid: int) -> int:
    """Group ``gid`` and the owner's rights for it on everything under ``workspace`` except
    ``release/``; no rights for others. Links are not followed. Returns how many changed."""
    changed = 0
    for folder, dirs, files in os.walk(workspace, followlinks=False):
        if Path(folder) == workspace and "release" in dirs:
            dirs.remove("release")
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            wanted = (mode & ~0o007) | ((mode & 0o700) >> 3)
            if stat.S_ISDIR(info.st_mode):
                wanted |= stat.S_ISGID
            if info.st_gid != gid:
                os.lchown(path, -1, gid)
            if info.st_gid != gid or mode != wanted:
                os.chmod(path, wanted)  # after chown, which may clear set-id bits
                changed += 1
    return changed


def set_project_access(project: ProjectGroup) -> None:
    """``project``'s group with exactly its members, and its workspace's group and modes."""
    if system.get_gid(project.group) is None:
        system.create_group(project.group, project.members)
    elif system.get_group_members(project.group) != tuple(sorted(project.members)):
        system.replace_group_members(project.group, project.members)
    system.apply_tree(TreeRule(project.workspace, None, project.group, 0o3770, 0o660,
                               recursive=False))
    system.apply_tree(TreeRule(project.release, None, project.group, 0o2750, 0o640))
    gid = system.get_gid(project.group)
    assert gid is not None
    _share_with_group(project.workspace, gid)


def set_workspace_access(
    config: GenomlabConfig, prefix: str = DEFAULT_PREFIX
) -> tuple[ProjectGroup, ...]:
    """Every project workspace of ``config``'s home closed to all but its members (see the
    module's description); returns the projects with their groups."""
    layout = compute_layout(config, prefix=prefix, account_exists=has_os_account)
    workspaces = config.home / "workspaces"
    if workspaces.is_dir() and not workspaces.is_symlink():
        system.apply_tree(TreeRule(workspaces, None, None, 0o711, 0o600, recursive=False))
    for project in layout.projects:
        set_project_access(project)
    return layout.projects
