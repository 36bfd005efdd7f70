"""Datendienst (data service): feasibility, consented cohort, linkage, release into a workspace.

Nothing here yet: built by the data-service issue. The only package that talks to both node
kinds and the trust centre.
"""
