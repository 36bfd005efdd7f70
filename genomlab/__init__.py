"""genomlab: the research environment of Germany's genomDE platform (§ 64e SGB V).

One subpackage per institution (see docs/architecture.md); shared, institution-neutral modules
are ``config``, ``ledger``, ``db``, ``keys``, ``messages``, ``institution``, ``hail_session``
and ``cli``.
"""

__version__ = "0.1.0"
