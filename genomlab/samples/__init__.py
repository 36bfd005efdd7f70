"""Synthetic genomDE worlds for tests and demos: nothing here is real patient data.

Nothing here yet: built by the synthetic-cohort issue.
"""
