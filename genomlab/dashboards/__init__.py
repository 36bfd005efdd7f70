"""Voila front ends: ipywidgets views over the same service functions the CLI uses.

Dashboards read projections (SQL/Parquet) and never start Spark. Never imports the trust centre.
"""
