"""Telling projects at once that a person left their data (withdrawal or deletion).

A release already names persons who left the cohort since the project's previous release
(:mod:`genomlab.data_service.release`), but only when the project is released again.
:func:`notify_projects_now` does it when the withdrawal happens: for each project that holds
the person (the trust centre names it with the project pseudonym it knows), a notice file
``<workspace>/notices/withdrawal-<notice id>.json`` (written to a temp file, then renamed) and
the declared event ``release.withdrawal_notified`` for the project's latest release (the one
that holds the person). The notebook header lists the open notices
(:meth:`genomlab.workspace.notebook_context.ProjectContext.format_summary`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from genomlab.config import GenomlabConfig
from genomlab.data_service.store import open_data_service_ledger, releases
from genomlab.db import read_connection
from genomlab.erasure import ErasureReason

ACTOR = "data_service"
NO_RELEASE = "none"
"""The release id of a notice to a project that received a linkage map but no release yet."""
_MESSAGES = {
    "withdrawal": "This person withdrew research consent.",
    "deletion": "This person's data were deleted on request.",
    "retention": "This person's data were deleted at the end of the retention period.",
    "correction": "This person's data were corrected.",
}


@dataclass(frozen=True)
class ProjectNotice:
    """A notice written to one project: its file and the release that holds the person."""

    project_id: str
    release_id: str
    path: Path


def _latest_release(config: GenomlabConfig, project_id: str) -> tuple[str, str | None]:
    """(release id, application id) of the project's latest release, or ``(none, None)``."""
    ledger = open_data_service_ledger(config)
    with read_connection(ledger.engine) as conn:
        row = conn.execute(select(releases.c.release_id, releases.c.application_id)
                           .where(releases.c.project_id == project_id)
                           .order_by(releases.c.seq.desc()).limit(1)).first()
    return (row.release_id, row.application_id) if row else (NO_RELEASE, None)


def notify_projects_now(config: GenomlabConfig, projects: Sequence[tuple[str, str]], *,
                        reason: ErasureReason, on: date) -> list[ProjectNotice]:
    """Write a notice to each ``(project id, project pseudonym)`` and record it; return them."""
    written: list[ProjectNotice] = []
    ledger = open_data_service_ledger(config)
    for project_id, pseudonym in projects:
        release_id, application_id = _latest_release(config, project_id)
        folder = config.workspace_dir(project_id) / "notices"
        folder.mkdir(parents=True, exist_ok=True)
        notice_id = f"{on.strftime('%Y%m%d')}-{secrets.token_hex(4)}"
        path = folder / f"withdrawal-{notice_id}.json"
        staged = folder / f".withdrawal-{notice_id}.json.tmp"
        staged.write_text(json.dumps({
            "project_id": project_id, "application_id": application_id,
            "release_id": release_id, "date": on.isoformat(), "reason": reason,
            "message": f"{_MESSAGES[reason]} Delete their data and derived results now; later "
                       "releases no longer contain them.",
            "project_pseudonyms": [pseudonym]}, indent=1))
        staged.replace(path)
        ledger.append("release.withdrawal_notified", {
            "project_id": project_id, "release_id": release_id,
            "project_pseudonyms": [pseudonym], "notice": str(path)},
            actor=ACTOR, stream=f"project:{project_id}")
        written.append(ProjectNotice(project_id, release_id, path))
    return written
