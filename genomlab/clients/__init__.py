"""Clients of institutions that run as services (``genomlab serve KIND``), issue 15.

One small module per institution, with the same function names as the in-process service, so a
caller (the CLI, the data service, a node) swaps one for the other:

- :mod:`genomlab.clients.oauth`: a service's endpoint (``<home>/services/<name>.json``), an
  instance's OAuth client credentials (0600 file) and bearer tokens from the platform.
- :mod:`genomlab.clients.platform`: the platform's status look-ups (nodes, approvals).
- :mod:`genomlab.clients.trust_center`: pseudonyms and linkage maps from the trust centre.

Institutions may import this package; it never imports :mod:`genomlab.services` (import-linter).
"""
