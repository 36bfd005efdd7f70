"""The report schedule: ``reports/schedule.toml``, one ``[[report]]`` table per scheduled report.

Example::

    [[report]]
    name = "platform-activity"
    cron = "0 6 1 * *"                      # 06:00 UTC on the first of each month
    notebook = "../notebooks/reports/platform_activity.ipynb"  # relative to this file
    audience = "public"                     # public reports pass the disclosure checks first
    parameters = { months = 12 }

Cron expressions are read in UTC. A report is *due* when the latest slot of its cron expression at
or before now has not been run yet; the slot is the run's idempotency key.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genomlab.errors import NotFoundError, ValidationFailed


class ReportSpec(BaseModel):
    """One scheduled report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    cron: str
    notebook: Path
    audience: Literal["internal", "public"] = "internal"
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    def latest_slot(self, now: datetime) -> datetime:
        """The latest scheduled time at or before ``now`` (UTC).

        Examples
        --------
        >>> spec = ReportSpec(name="x", cron="0 6 * * *", notebook=Path("x.ipynb"))
        >>> spec.latest_slot(datetime(2026, 11, 22, 9, 30, tzinfo=UTC)).isoformat()
        '2026-11-22T06:00:00+00:00'
        """
        from croniter import croniter

        now = now.astimezone(UTC)
        if croniter.match(self.cron, now) and now.second == 0 and now.microsecond == 0:
            return now
        return croniter(self.cron, now).get_prev(datetime).astimezone(UTC)


def run_key(name: str, slot: datetime) -> str:
    """The idempotency key of one scheduled run: report name and slot.

    Examples
    --------
    >>> run_key("platform-activity", datetime(2026, 11, 1, 6, tzinfo=UTC))
    'platform-activity@2026-11-01T06:00Z'
    """
    return f"{name}@{slot.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}"


def load_schedule(path: Path) -> list[ReportSpec]:
    """Read and validate a schedule; notebook paths become absolute (relative to the file).

    Raises
    ------
    ValidationFailed
        One line naming the file, the report entry and the field.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "schedule.toml"
    >>> _ = p.write_text('[[report]]\\nname = "a"\\ncron = "0 * * * *"\\nnotebook = "a.ipynb"\\n')
    >>> _ = (p.parent / "a.ipynb").write_text("{}")
    >>> [s.name for s in load_schedule(p)]
    ['a']
    """
    if not path.is_file():
        raise NotFoundError(f"{path}: report schedule not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"report"}
    if unknown:
        raise ValidationFailed(f"{path}: unknown key(s) {sorted(unknown)}; expected [[report]]")
    specs: list[ReportSpec] = []
    for index, entry in enumerate(data.get("report", [])):
        label = f"report[{index}]" + (f" ({entry['name']})" if "name" in entry else "")
        try:
            spec = ReportSpec.model_validate(entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            message = re.sub(r"^Value error, ", "", str(error["msg"]))
            raise ValidationFailed(f"{path}: {label}: {field}: {message}") from None
        notebook = (path.parent / spec.notebook).resolve()
        if not notebook.is_file():
            raise ValidationFailed(f"{path}: {label}: notebook: {notebook} does not exist")
        specs.append(spec.model_copy(update={"notebook": notebook}))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationFailed(f"{path}: report name(s) {duplicates} appear more than once")
    return specs
