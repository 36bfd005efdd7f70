"""Klinischer Datenknoten (clinical data node, KDK): intake, clinical store, Prüfbericht.

Nothing here yet: built by the data-nodes issue. Never imports ``genomlab.genome_center``.
"""
