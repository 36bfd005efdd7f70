"""Reporting: papermill runner, report schedule, run history.

- :mod:`genomlab.reports.schedule`: ``reports/schedule.toml`` and due slots (cron, UTC).
- :mod:`genomlab.reports.runner`: runs, HTML without code, output hashes, the disclosure gate for
  public reports, the reports ledger under ``<home>/reports/``.
- :mod:`genomlab.reports.activity`: the platform activity report's tables.
"""
