"""Genomrechenzentrum (genome data centre, GRZ): intake, basic QC, genotype store, Prüfbericht.

- :mod:`.metadata`: basic validation with BfArM's grz-pydantic-models, files and thresholds;
- :mod:`.intake`: :class:`~.intake.GenomeCenter`, the submission state machine as ledger events;
- :mod:`.genotypes`: append-only Hail MatrixTable batches per consent store;
- :mod:`.grz_record`: BfArM's grz-db as the submission record (reused tanG, duplicate initial,
  selection for detailed QC); :mod:`.quarterly`: the three TSVs.

Never imports ``genomlab.clinical_node`` or ``genomlab.trust_center``.
"""
