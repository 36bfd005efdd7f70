"""Reporting: papermill runner, report schedule, run history.

Nothing here yet: built by the airlock-and-reports issue.
"""
