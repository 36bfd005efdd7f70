"""Datendienst (data service): feasibility, consented cohort, linkage and release into a workspace.

The only package that talks to both node kinds and the trust centre. It sees the nodes through
the read protocols of :mod:`~genomlab.data_service.nodes` and the trust centre through
:class:`~genomlab.data_service.release.LinkageService`; the CLI, the demo and notebooks pass in
the real implementations.

Modules
-------
- :mod:`~genomlab.data_service.nodes` — what the data service reads from a GRZ and a KDK.
- :mod:`~genomlab.data_service.index` — the feasibility index built from node reports (why it
  exists, what it holds), kept in the data service's store
  (:mod:`~genomlab.data_service.index_tables`; no pseudonyms, no genotypes).
- :mod:`~genomlab.data_service.beacon` — GA4GH Beacon v2 shaped requests and responses.
- :mod:`~genomlab.data_service.suppression` — small-cell, complementary and differencing rules.
- :mod:`~genomlab.data_service.feasibility` — answering a feasibility query (audited per
  requester, within a query budget).
- :mod:`~genomlab.data_service.selection` — persons meeting an approval's criteria.
- :mod:`~genomlab.data_service.release` — verified, linked, atomic, reproducible release.
- :mod:`~genomlab.data_service.store` — ledger events and projection tables.
"""
