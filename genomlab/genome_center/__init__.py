"""Genomrechenzentrum (genome data centre, GRZ): intake, basic QC, genotype store, Prüfbericht.

- :mod:`.metadata`: basic validation with BfArM's grz-pydantic-models, files and thresholds;
- :mod:`.intake`: :class:`~.intake.GenomeCenter`, the submission state machine as ledger events;
- :mod:`.genotypes`: append-only Hail MatrixTable batches per consent store;
- :mod:`.sampling`: BfArM's 2 % rule for detailed QC; :mod:`.quarterly`: the three TSVs.

Never imports ``genomlab.clinical_node`` or ``genomlab.trust_center``.
"""
