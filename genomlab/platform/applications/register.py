"""The public application register (§ 64e (9) sentence 4 no. 2 SGB V) and its JSON/CSV export.

Every application that was ever submitted is listed (drafts never are): applicant, institution,
authorised users, project, purposes, the data requested, decision and date, status and the results
the team reported. The schema is documented in ``docs/register-schema.md``;
:data:`REGISTER_FIELDS` is its machine-readable form, in column order.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Select, func, or_, select

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.duo import get_duo_terms
from genomlab.platform.applications.store import read_platform

REGISTER_SCHEMA_VERSION = "1.0"
REGISTER_FIELDS: tuple[tuple[str, str], ...] = (
    ("project_id", "string"),
    ("application_id", "string"),
    ("title", "string"),
    ("lay_summary", "string"),
    ("applicant", "string"),
    ("institution", "string"),
    ("authorised_users", "list[string]"),
    ("purposes", "list[string]"),
    ("duo_permission", "string"),
    ("duo_permission_id", "string"),
    ("disease", "string|null"),
    ("duo_modifiers", "list[string]"),
    ("data_categories", "list[string]"),
    ("clinical_fields", "list[string]"),
    ("cohort_criteria", "object"),
    ("level", "string"),
    ("submitted_on", "date"),
    ("status", "string"),
    ("status_since", "date"),
    ("decision", "string|null"),
    ("decision_on", "date|null"),
    ("valid_from", "date|null"),
    ("valid_until", "date|null"),
    ("results", "list[object]"),
)
"""(name, type) of every register field, in export order."""

DECISIONS = {"approved": "approved", "rejected": "rejected"}


@dataclass(frozen=True)
class RegisterPage:
    """A page of register entries and the number of entries matching the filter."""

    entries: list[dict[str, Any]]
    total: int


def _base_query(search: str | None, status: str | None) -> tuple[Select[Any], list[Any]]:
    a = t.applications
    where: list[Any] = [a.c.submitted_at.is_not(None)]
    if status:
        where.append(a.c.status == status)
    if search:
        pattern = f"%{search.strip()}%"
        where.append(or_(a.c.title.like(pattern), a.c.project_id.like(pattern),
                         a.c.institution.like(pattern), a.c.purposes.like(pattern)))
    return select(a).where(*where), where


def _entries(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [r.application_id for r in rows]
    names = {r.user_id: (r.name, r.institution) for r in conn.execute(select(t.users))}
    team: dict[str, list[str]] = defaultdict(list)
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    # chunks keep the IN lists within every database's parameter limit
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for row in conn.execute(select(t.team).where(t.team.c.application_id.in_(chunk))
                                .order_by(t.team.c.user_id)):
            name, institution = names.get(row.user_id, (row.user_id, ""))
            team[row.application_id].append(f"{name} ({institution})")
        for row in conn.execute(select(t.results).where(t.results.c.application_id.in_(chunk))
                                .order_by(t.results.c.seq)):
            found[row.application_id].append({"kind": row.kind, "title": row.title,
                                              "reference": row.reference,
                                              "added_on": row.added_at[:10]})
    terms = get_duo_terms()
    entries = []
    for r in rows:
        form = json.loads(r.form)
        entries.append({
            "project_id": r.project_id,
            "application_id": r.application_id,
            "title": form["title"],
            "lay_summary": form["lay_summary"],
            "applicant": names.get(r.applicant, (r.applicant, ""))[0],
            "institution": r.institution,
            "authorised_users": team[r.application_id],
            "purposes": list(form["purposes"]),
            "duo_permission": form["duo_permission"],
            "duo_permission_id": terms[form["duo_permission"]].id,
            "disease": form.get("disease"),
            "duo_modifiers": list(form.get("duo_modifiers", ())),
            "data_categories": list(form["data_categories"]),
            "clinical_fields": list(form.get("clinical_fields", ())),
            "cohort_criteria": form.get("criteria", {}),
            "level": form.get("level", "aggregated"),
            "submitted_on": r.submitted_at[:10],
            "status": r.status,
            "status_since": r.status_changed_at[:10],
            "decision": DECISIONS.get(r.status) or (
                "approved" if r.approval is not None else None),
            "decision_on": r.decided_at[:10] if r.decided_at else None,
            "valid_from": r.valid_from,
            "valid_until": r.valid_until,
            "results": found[r.application_id],
        })
    return entries


def get_register_page(config: GenomlabConfig, *, search: str | None = None,
                      status: str | None = None, offset: int = 0,
                      limit: int | None = 50) -> RegisterPage:
    """Register entries, newest submission first; ``limit=None`` returns all.

    Examples
    --------
    >>> page = get_register_page(config, search="BRCA")  # doctest: +SKIP
    >>> page.entries[0]["project_id"]  # doctest: +SKIP
    'GDE-2026-0001'
    """
    query, where = _base_query(search, status)
    a = t.applications
    query = query.order_by(a.c.submitted_at.desc(), a.c.application_id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with read_platform(config) as conn:
        total = conn.execute(select(func.count()).select_from(a).where(*where)).scalar_one()
        return RegisterPage(_entries(conn, conn.execute(query).all()), total)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) or (isinstance(value, list) and value
                                   and isinstance(value[0], dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


def render_register(entries: list[dict[str, Any]], fmt: Literal["json", "csv"]) -> str:
    """The register as JSON (``{"schema_version", "fields", "entries"}``) or CSV text."""
    if fmt == "json":  # one entry per line: diffable, and json's C encoder does the work
        head = json.dumps({"schema_version": REGISTER_SCHEMA_VERSION,
                           "fields": [{"name": n, "type": ty} for n, ty in REGISTER_FIELDS]},
                          ensure_ascii=False)
        lines = ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries)
        return f'{head[:-1]}, "entries": [\n{lines}\n]}}\n'
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in REGISTER_FIELDS])
    for entry in entries:
        writer.writerow([_csv_value(entry[name]) for name, _ in REGISTER_FIELDS])
    return buffer.getvalue()


def export_register(config: GenomlabConfig, path: str | os.PathLike[str],
                    fmt: Literal["json", "csv"] | None = None) -> int:
    """Write the whole register to ``path`` (format from the suffix unless given); returns rows.

    Written to a temporary file first, then renamed, so readers never see half a register.

    Examples
    --------
    >>> export_register(config, "register.csv")  # doctest: +SKIP
    10000
    """
    target = Path(path)
    fmt = fmt or ("csv" if target.suffix.lower() == ".csv" else "json")
    entries = get_register_page(config, limit=None).entries
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render_register(entries, fmt), encoding="utf-8")
    os.replace(tmp, target)
    return len(entries)
