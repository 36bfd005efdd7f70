"""The public application register (§ 64e (9) sentence 4 no. 2 SGB V) and its JSON/CSV export.

Every application that was ever submitted is listed (drafts never are): applicant, institution,
authorised users, project, purposes, the data requested, decision and date, status and the results
the team reported. The schema is documented in ``docs/register-schema.md``;
:data:`~genomlab.platform.applications.register_entry.REGISTER_FIELDS` is its machine-readable
form. Entries are pre-rendered by the projection, so a page or an export only reads and joins
text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, or_, select

from genomlab.config import GenomlabConfig
from genomlab.platform.applications import projection as t
from genomlab.platform.applications.register_entry import (
    REGISTER_FIELDS,
    REGISTER_SCHEMA_VERSION,
    render_csv_line,
)
from genomlab.platform.applications.store import read_platform

__all__ = ["REGISTER_FIELDS", "RegisterPage", "export_register", "get_register_page",
           "render_register", "render_whole_register"]


@dataclass(frozen=True)
class RegisterPage:
    """A page of register entries and the number of entries matching the filter."""

    entries: list[dict[str, Any]]
    total: int


def _filters(search: str | None, status: str | None) -> list[Any]:
    r = t.register
    where: list[Any] = []
    if status:
        where.append(r.c.status == status)
    if search:
        pattern = f"%{search.strip()}%"
        where.append(or_(r.c.title.like(pattern), r.c.project_id.like(pattern),
                         r.c.institution.like(pattern), r.c.purposes.like(pattern)))
    return where


def _texts(config: GenomlabConfig, column: str, search: str | None, status: str | None,
           offset: int, limit: int | None) -> tuple[list[str], int]:
    r = t.register
    where = _filters(search, status)
    query = (select(r.c[column]).where(*where)
             .order_by(r.c.submitted_at.desc(), r.c.application_id.desc()).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    with read_platform(config) as conn:
        total = conn.execute(select(func.count()).select_from(r).where(*where)).scalar_one()
        return list(conn.execute(query).scalars()), total


def get_register_page(config: GenomlabConfig, *, search: str | None = None,
                      status: str | None = None, offset: int = 0,
                      limit: int | None = 50) -> RegisterPage:
    """Register entries, newest submission first; ``limit=None`` returns all.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> demo = run_applications_demo(config)
    >>> page = get_register_page(config, search="rare diseases")
    >>> page.total, page.entries[0]["project_id"] == demo.project_id
    (1, True)
    >>> get_register_page(config, search="BRCA").total
    0
    """
    texts, total = _texts(config, "entry", search, status, offset, limit)
    return RegisterPage([json.loads(text) for text in texts], total)


def _json_document(entry_texts: list[str]) -> str:
    """One entry per line: diffable, and nothing is parsed or re-encoded."""
    head = json.dumps({"schema_version": REGISTER_SCHEMA_VERSION,
                       "fields": [{"name": n, "type": ty} for n, ty in REGISTER_FIELDS]},
                      ensure_ascii=False)
    return f'{head[:-1]}, "entries": [\n' + ",\n".join(entry_texts) + "\n]}\n"


def render_register(entries: list[dict[str, Any]], fmt: Literal["json", "csv"]) -> str:
    """Entries as the JSON document (``{"schema_version", "fields", "entries"}``) or CSV text."""
    if fmt == "json":
        return _json_document([json.dumps(e, ensure_ascii=False) for e in entries])
    return render_csv_line(None) + "".join(render_csv_line(e) for e in entries)


def export_register(config: GenomlabConfig, path: str | os.PathLike[str],
                    fmt: Literal["json", "csv"] | None = None) -> int:
    """Write the whole register to ``path`` (format from the suffix unless given); returns rows.

    Written to a temporary file first, then renamed, so readers never see half a register.

    Examples
    --------
    >>> import tempfile
    >>> from genomlab.config import load_config
    >>> from genomlab.platform.applications.demo import run_applications_demo
    >>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
    >>> _ = run_applications_demo(config)
    >>> export_register(config, config.home / "register.csv")
    1
    >>> (config.home / "register.csv").read_text().splitlines()[0].split(",")[:2]
    ['project_id', 'application_id']
    """
    target = Path(path)
    fmt = fmt or ("csv" if target.suffix.lower() == ".csv" else "json")
    body, n = render_whole_register(config, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)
    return n


def render_whole_register(config: GenomlabConfig, fmt: Literal["json", "csv"]) -> tuple[str, int]:
    """The whole register as the export's text (JSON document or CSV) and its number of entries;
    what :func:`export_register` writes and the register page offers for download."""
    texts, _ = _texts(config, "entry" if fmt == "json" else "csv", None, None, 0, None)
    body = _json_document(texts) if fmt == "json" else render_csv_line(None) + "".join(texts)
    return body, len(texts)
