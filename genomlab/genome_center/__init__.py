"""Genomrechenzentrum (genome data centre, GRZ): intake, basic QC, genomic store, Prüfbericht.

Nothing here yet: built by the data-nodes issue. Never imports ``genomlab.clinical_node``.
"""
