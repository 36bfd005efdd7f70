"""The only code of the deployment that changes the machine.

Accounts and groups are made and removed only through ``useradd``, ``groupadd``, ``userdel`` and
``groupdel`` (no system file is edited directly). A group's members change by removing and
re-adding the group with the same GID, so files keep their group. Owners and modes are changed
only under the home, never following a symbolic link.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from genomlab.deploy.layout import TreeRule
from genomlab.errors import GenomlabError

NOLOGIN = shutil.which("nologin") or "/usr/sbin/nologin"
"""Shell of the service accounts: no interactive login."""


def get_uid(name: str) -> int | None:
    """The UID of account ``name``, or ``None`` if there is none."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def get_gid(name: str) -> int | None:
    """The GID of group ``name``, or ``None`` if there is none."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def get_group_members(name: str) -> tuple[str, ...] | None:
    """The supplementary members of group ``name`` (sorted), ``None`` if there is no such group."""
    try:
        return tuple(sorted(grp.getgrnam(name).gr_mem))
    except KeyError:
        return None


def _run(command: Sequence[str]) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise GenomlabError(f"{' '.join(command)}: exit {done.returncode}: "
                            f"{message[-1] if message else 'no message'}")


def create_service_account(name: str, folder: Path, comment: str) -> None:
    """A system account ``name`` with a group of its own, no login shell, home ``folder``."""
    _run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(folder),
          "--shell", NOLOGIN, "--comment", comment, name])


def create_group(name: str, members: Sequence[str], gid: int | None = None) -> None:
    """A system group ``name`` with ``members`` (and GID ``gid`` when given)."""
    command = ["groupadd", "--system"]
    if gid is not None:
        command += ["--gid", str(gid)]
    if members:
        command += ["--users", ",".join(members)]
    _run([*command, name])


def replace_group_members(name: str, members: Sequence[str]) -> None:
    """Give group ``name`` exactly ``members``, keeping its GID (``groupdel`` + ``groupadd``)."""
    gid = get_gid(name)
    if gid is None:
        raise GenomlabError(f"group {name} does not exist")
    _run(["groupdel", name])
    create_group(name, members, gid)


def delete_account(name: str) -> None:
    """Remove account ``name`` and its own group (files it owns stay, with its old UID)."""
    if get_uid(name) is not None:
        _run(["userdel", name])
    if get_gid(name) is not None:
        _run(["groupdel", name])


def delete_group(name: str) -> None:
    if get_gid(name) is not None:
        _run(["groupdel", name])


@dataclass(frozen=True)
class Ids:
    """Numeric owner and group a rule asks for (``None``: keep)."""

    uid: int | None
    gid: int | None


def resolve_ids(rule: TreeRule) -> Ids:
    """The numeric ids of ``rule``'s owner and group (``-1`` stands for one not created yet)."""
    uid = None if rule.owner is None else get_uid(rule.owner)
    gid = None if rule.group is None else get_gid(rule.group)
    return Ids(-1 if rule.owner is not None and uid is None else uid,
               -1 if rule.group is not None and gid is None else gid)


def iter_tree(rule: TreeRule) -> Iterator[Path]:
    """``rule.root`` and, if recursive, everything under it (links not followed)."""
    if not rule.root.exists() and not rule.root.is_symlink():
        return
    yield rule.root
    if rule.recursive and rule.root.is_dir() and not rule.root.is_symlink():
        for folder, dirs, files in os.walk(rule.root, followlinks=False):
            for name in sorted(dirs) + sorted(files):
                yield Path(folder) / name


def _wanted(rule: TreeRule, ids: Ids, info: os.stat_result) -> tuple[int, int, int | None]:
    uid = info.st_uid if ids.uid is None else ids.uid
    gid = info.st_gid if ids.gid is None else ids.gid
    if stat.S_ISLNK(info.st_mode):
        return uid, gid, None
    return uid, gid, rule.dir_mode if stat.S_ISDIR(info.st_mode) else rule.file_mode


def count_tree_changes(rule: TreeRule) -> int:
    """How many entries under ``rule`` have another owner, group or mode than it asks for."""
    ids = resolve_ids(rule)
    changes = 0
    for path in iter_tree(rule):
        info = path.lstat()
        uid, gid, mode = _wanted(rule, ids, info)
        if (info.st_uid, info.st_gid) != (uid, gid) or (
                mode is not None and stat.S_IMODE(info.st_mode) != mode):
            changes += 1
    return changes


def apply_tree(rule: TreeRule, ids: Ids | None = None) -> int:
    """Set owner, group and mode of every entry ``rule`` covers; returns how many changed.

    ``ids`` overrides the rule's names with numeric ids (teardown gives a home back to its owner).
    """
    ids = ids or resolve_ids(rule)
    if -1 in (ids.uid, ids.gid):
        raise GenomlabError(f"{rule.root}: account {rule.owner} or group {rule.group} missing")
    changed = 0
    for path in iter_tree(rule):
        info = path.lstat()
        uid, gid, mode = _wanted(rule, ids, info)
        touched = False
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)
            touched = True
        if mode is not None and (touched or stat.S_IMODE(info.st_mode) != mode):
            os.chmod(path, mode)  # after chown, which clears set-id bits
            touched = True
        changed += touched
    return changed


def get_blocked_path(path: Path) -> tuple[Path, Path] | None:
    """(folder others cannot pass, the entry below it on the way to ``path``), or ``None``.

    Examples
    --------
    >>> get_blocked_path(Path("/usr/bin/env")) is None
    True
    """
    resolved = path.resolve()
    for ancestor in reversed(resolved.parents):
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor, ancestor / resolved.relative_to(ancestor).parts[0]
    return None


def get_process_uids(pid: int) -> tuple[int, ...] | None:
    """Real, effective, saved and file-system UID of process ``pid`` (``/proc/<pid>/status``);
    ``None`` when no such process lives.

    A process that has ended but not been reaped yet (a zombie, state ``Z``; or ``X``) no
    longer lives, though ``/proc`` still lists it with its UIDs. A service the set-up started
    detached is an orphan, reaped by PID 1 whenever that gets to it (the init of a VM here:
    every 2 s), so waiting for its entry to vanish made ``deploy teardown`` take 2 s per
    service.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return None
    if "Uid" not in fields:
        return None
    return tuple(int(x) for x in fields["Uid"].split())
