"""Vertrauensstelle (trust centre, RKI): identities, case numbers, pseudonyms, re-identification.

Only this package holds identifying data, and only in its own store under ``<home>/trust_center``
with its own keys (0600 files behind :class:`genomlab.keys.KeyProvider`).

Modules
-------
- :mod:`~genomlab.trust_center.service` — :class:`TrustCenter`: case numbers (VNg/VNk) and the
  :class:`genomlab.messages.PseudonymService` the data nodes call, consent, key rotation, linkage
  maps for approved applications.
- :mod:`~genomlab.trust_center.reidentification` — the two lawful ways back to a person, with
  consent scope and two-officer approval.
- :mod:`~genomlab.trust_center.corrections` — the correction procedure (GenDV § 5).
- :mod:`~genomlab.trust_center.pseudonyms` — vectorised keyed pseudonyms (AES as a PRP over
  128-bit person ids; no mapping table).
- :mod:`~genomlab.trust_center.key_material` — which key serves which purpose.
- :mod:`~genomlab.trust_center.store` — ledger events and projection tables.
- :mod:`~genomlab.trust_center.approvals` — checking the platform's signed approvals.
- :mod:`~genomlab.trust_center.identifiers` — KVNR part, Arbeitsnummer, IK validation.

Nothing else imports this package except the data service and the CLI/demo wiring (import-linter
contracts in ``pyproject.toml``).
"""
