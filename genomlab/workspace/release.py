"""Entitlement-checked access to a project's release inside its workspace.

:func:`open_release` is the only way analysis code should reach released data: it refuses a user
who is not on the approved team of the project, or whose entitlement has not begun, has ended
(expiry, closure) or was revoked, with a one-line :class:`~genomlab.errors.PermissionDenied`.
The user is the caller's ``user`` (already verified) or else the verified person of the
running account's credentials file (``$GENOMLAB_CREDENTIALS``, else
``~/.genomlab/credentials.json``); a name in the environment decides nothing (issue 15).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from genomlab.config import GenomlabConfig, load_config
from genomlab.errors import NotFoundError, PermissionDenied
from genomlab.hail_session import HailModule
from genomlab.platform.applications import get_active_entitlements, get_team
from genomlab.platform.applications.identity import get_current_user
from genomlab.platform.person_session import get_member_projects, platform_store_readable
from genomlab.workspace.crypt4gh_release import SCRATCH, decrypt_release


@dataclass(frozen=True)
class Release:
    """A project's release as the data service wrote it (``manifest.json`` read)."""

    project_id: str
    user: str
    path: Path
    manifest: dict[str, Any]

    @property
    def level(self) -> str:
        return str(self.manifest["level"])

    def read_matrix_table(self, hl: HailModule) -> Any:
        """``genotypes.mt`` (columns keyed by project pseudonym ``s``); individual level only."""
        path = self.path / "genotypes.mt"
        if not path.exists():
            raise NotFoundError(f"{self.path}: no genotypes.mt (a {self.level}-level release)")
        return hl.read_matrix_table(str(path))

    def read_clinical(self) -> Any:
        """The released clinical fields as a polars DataFrame keyed by ``s``."""
        import polars as pl

        path = self.path / "clinical" / "persons.parquet"
        if not path.exists():
            raise NotFoundError(f"{path}: no clinical table in this release")
        return pl.read_parquet(path)

    def read_aggregate(self, name: str) -> Any:
        """An aggregate table (``allele_frequencies``, ``phenotype_counts``) as polars."""
        import polars as pl

        path = self.path / "aggregates" / f"{name}.parquet"
        if not path.exists():
            raise NotFoundError(f"{path}: no aggregate table {name!r} in this release")
        return pl.read_parquet(path)


def open_release(project: str, *, user: str | None = None,
                 config: GenomlabConfig | None = None, at: datetime | None = None) -> Release:
    """The project's current release, if ``user`` may use it now; else raise.

    Raises
    ------
    PermissionDenied
        The user is not on the project's approved team, or holds no active entitlement (not
        yet valid, expired, closed or revoked).
    NotFoundError
        The project is unknown or nothing has been released into its workspace yet.

    Examples
    --------
    In a notebook of the project, ``open_release(project).read_matrix_table(hl)`` opens the
    genotypes. Before the data service has released anything, and for someone off the team:

    >>> import tempfile
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> project = run_applications_demo(config).project_id
    >>> open_release(project, user="alice", config=config)
    Traceback (most recent call last):
    ...
    genomlab.errors.NotFoundError: .../manifest.json: nothing has been released to project ...
    >>> open_release(project, user="mallory", config=config)
    Traceback (most recent call last):
    ...
    genomlab.errors.PermissionDenied: user 'mallory' is not on the approved team of project GDE-...
    """
    config = config or load_config()
    user = user or get_current_user(config)
    if not platform_store_readable(config):  # a person's account behind the hub: ask the
        # platform service, which answers for the credentials' verified person only
        if not any(p["project_id"] == project for p in get_member_projects(config, user, at)):
            raise PermissionDenied(f"user {user!r} is not on the approved team of project "
                                   f"{project}, or the entitlement to it has ended, was "
                                   "revoked or has not begun")
    elif user not in get_team(config, project):
        raise PermissionDenied(f"user {user!r} is not on the approved team of project {project}")
    elif not any(e.project_id == project for e in get_active_entitlements(config, user, at)):
        raise PermissionDenied(f"user {user!r}: the entitlement to project {project} has ended, "
                               "was revoked or has not begun")
    path = config.workspace_dir(project) / "release"
    manifest = path / "manifest.json"
    if not manifest.exists():
        raise NotFoundError(f"{manifest}: nothing has been released to project {project} yet")
    content = json.loads(manifest.read_text())
    if "encryption" in content:  # Crypt4GH: the member's decrypted copy in their scratch
        path = decrypt_release(config, project, user, path, content)
    return Release(project, user, path, content)


def open_release_folder(folder: Path, *, user: str | None = None,
                        config: GenomlabConfig | None = None,
                        at: datetime | None = None) -> Release:
    """The release in ``folder`` (``<home>/workspaces/<project>/release``) after the same
    entitlement check as :func:`open_release`; nothing in the folder is read before it.

    Raises
    ------
    PermissionDenied
        ``folder`` is not a project's release folder, or :func:`open_release` refuses the user.
    """
    config = config or load_config()
    resolved = folder.resolve()
    if resolved.parent.parent.name == SCRATCH and resolved.name.startswith("release-"):
        # a member's decrypted copy (what open_release hands on): the same check, and it must
        # be this user's copy of the project's current release
        opened = open_release(resolved.parents[2].name, user=user, config=config, at=at)
        if opened.path.resolve() != resolved:
            raise PermissionDenied(f"{folder}: not {opened.user}'s copy of the current release "
                                   f"of project {opened.project_id}")
        return opened
    project = resolved.parent.name
    if resolved != (config.workspace_dir(project) / "release").resolve():
        raise PermissionDenied(f"{folder}: not a project's release; only "
                               f"{config.workspace_dir('<project>')}/release can be read")
    return open_release(project, user=user, config=config, at=at)
