"""jsonschema, imported without its IRI format checker: 1.8 s saved in every process.

``jsonschema``'s format module imports ``rfc3987_syntax`` when it is installed (it is: the
``format-nongpl`` extra that Jupyter's packages ask for brings it), and that module builds a Lark
grammar on import: 1.76 of the 1.9 s ``import jsonschema`` took here on a quiet machine (``python
-X importtime``), paid by every ``genomlab`` process and service that validates a KDK record or
a Beacon answer. It checks only the ``iri`` and ``iri-reference`` formats, which no schema
genomlab validates against uses (the KDK dataset: ``date``, ``uri``; the Beacon framework:
``date-time``, ``uri``; ``tests/test_jsonschema_import.py`` keeps that true).

So the first import of ``jsonschema`` in a process goes through here, with ``rfc3987_syntax``
masked (``sys.modules[name] = None`` makes ``import`` raise ImportError, which jsonschema
expects of a missing optional checker). The mask is lifted right after: anything that imports
``rfc3987_syntax`` itself later still gets it; only jsonschema's shared ``FORMAT_CHECKER`` of
this process lacks the two IRI formats, as it would on a machine without the package. If
``jsonschema`` was imported before, nothing changes.
"""

from __future__ import annotations

import sys

_MASKED = "rfc3987_syntax"

if "jsonschema" not in sys.modules and _MASKED not in sys.modules:
    sys.modules[_MASKED] = None  # type: ignore[assignment]
    try:
        import jsonschema  # noqa: F401  (the import this module exists for)
    finally:
        if sys.modules.get(_MASKED, ...) is None:
            del sys.modules[_MASKED]

from jsonschema import Draft202012Validator, ValidationError  # noqa: E402
from jsonschema.exceptions import relevance  # noqa: E402

__all__ = ["Draft202012Validator", "ValidationError", "relevance"]
