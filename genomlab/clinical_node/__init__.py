"""Klinischer Datenknoten (clinical data node, KDK): intake, clinical store, Prüfbericht.

- :mod:`.records`: validation of KDK dataset records (codes, dates, consents);
- :mod:`.intake`: :class:`~.intake.ClinicalNode`, record states as ledger events;
- :mod:`.store`: the ledger projection and the Parquet tables per consent store.

Never imports ``genomlab.genome_center`` or ``genomlab.trust_center``.
"""
