"""One public register entry: its schema and how it is built from an application's state.

The projection keeps every entry pre-rendered (JSON and CSV line) so that the register page and
the export never parse application forms. :data:`REGISTER_FIELDS` is the machine-readable form
of ``docs/register-schema.md``.
"""

from __future__ import annotations

import json
from typing import Any

from genomlab.people_csv import render_people_csv_row
from genomlab.platform.applications.duo import get_duo_terms

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


def build_register_entry(app: Any, applicant_name: str, authorised_users: list[str],
                         results: list[dict[str, str]]) -> dict[str, Any]:
    """The public entry of a submitted application (``app``: a row of ``applications``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> app = SimpleNamespace(project_id="GDE-2026-0001", application_id="APP-000001",
    ...     institution="Uni X", submitted_at="2026-03-02T09:00", status="approved",
    ...     status_changed_at="2026-03-09T10:00", decided_at="2026-03-09T10:00",
    ...     approval="{}", valid_from="2026-03-09", valid_until="2027-03-08",
    ...     form='{"title": "T", "lay_summary": "L", "purposes": ["research"],'
    ...          ' "duo_permission": "HMB", "data_categories": ["genomic"]}')
    >>> build_register_entry(app, "Alice", ["Alice (Uni X)"], [])["duo_permission_id"]
    'DUO:0000006'
    """
    form = json.loads(app.form)
    return {
        "project_id": app.project_id,
        "application_id": app.application_id,
        "title": form["title"],
        "lay_summary": form["lay_summary"],
        "applicant": applicant_name,
        "institution": app.institution,
        "authorised_users": authorised_users,
        "purposes": list(form["purposes"]),
        "duo_permission": form["duo_permission"],
        "duo_permission_id": get_duo_terms()[form["duo_permission"]].id,
        "disease": form.get("disease"),
        "duo_modifiers": list(form.get("duo_modifiers", ())),
        "data_categories": list(form["data_categories"]),
        "clinical_fields": list(form.get("clinical_fields", ())),
        "cohort_criteria": form.get("criteria", {}),
        "level": form.get("level", "aggregated"),
        "submitted_on": app.submitted_at[:10],
        "status": app.status,
        "status_since": app.status_changed_at[:10],
        "decision": DECISIONS.get(app.status) or ("approved" if app.approval else None),
        "decision_on": app.decided_at[:10] if app.decided_at else None,
        "valid_from": app.valid_from,
        "valid_until": app.valid_until,
        "results": results,
    }


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) or (isinstance(value, list) and value
                                   and isinstance(value[0], dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


def render_csv_line(entry: dict[str, Any] | None) -> str:
    """One CSV line (with its line end) of an entry, formulas escaped; ``None``: the header."""
    if entry is None:
        return render_people_csv_row([name for name, _ in REGISTER_FIELDS])
    return render_people_csv_row([_csv_value(entry[name]) for name, _ in REGISTER_FIELDS])
