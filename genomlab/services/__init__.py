"""Institutions as long-lived HTTP services (``genomlab serve KIND``): issue 15's run-time boundary.

Each module here is the HTTP face of one institution over the same service functions the CLI
calls; only the serving process opens that institution's store and keys. This package may import
institutions; no institution imports it (import-linter contract in ``pyproject.toml``).

- :mod:`genomlab.services.oauth_http`: RFC 6749/6750 request parsing and error responses.
- :mod:`genomlab.services.platform_api`: the platform (BfArM): token endpoint, Prüfbericht upload.
- :mod:`genomlab.services.tls`: the loopback TLS certificate of a service instance.
- :mod:`genomlab.services.runner`: binds a port, records it in the home, runs uvicorn.
- :mod:`genomlab.services.cli`: ``genomlab serve``.
"""
