"""The platform's ledger: its declared events and all of its projections, opened in one place.

Every platform write goes through :func:`open_platform_ledger`, so each event updates the node
registry *and* the applications tables, whichever part of the platform recorded it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.events import LedgerSpec
from genomlab.institution import Institution
from genomlab.ledger import Ledger
from genomlab.platform.applications.projection import PROJECTION as APPLICATIONS_PROJECTION
from genomlab.platform.events import PLATFORM_EVENTS
from genomlab.platform.node_projection import NODE_PROJECTION
from genomlab.platform.person_projection import PERSON_PROJECTION

PLATFORM_LEDGER = LedgerSpec.of(PLATFORM_EVENTS, [NODE_PROJECTION, APPLICATIONS_PROJECTION,
                                                  PERSON_PROJECTION])
"""The platform's events and projections (node registry, applications, people's credentials)."""

_READY: set[str] = set()


def open_platform_ledger(config: GenomlabConfig,
                         clock: Callable[[], datetime] | None = None) -> Ledger:
    """The platform ledger with all its projections attached.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> ledger = open_platform_ledger(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    >>> ledger.institution, len(ledger.projections)
    ('platform', 3)
    """
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    ledger = Institution(config, "platform").ledger(PLATFORM_LEDGER, **kwargs)
    _READY.add(ledger.engine.url.render_as_string(hide_password=False))
    return ledger


@contextmanager
def read_platform(config: GenomlabConfig) -> Iterator[Connection]:
    """A read-only connection to the platform store (tables created on first use; no lock)."""
    engine = Institution(config, "platform").engine()
    url = engine.url.render_as_string(hide_password=False)
    if url not in _READY:
        for projection in PLATFORM_LEDGER.projections:
            projection.metadata.create_all(engine)
        _READY.add(url)
    with read_connection(engine) as conn:
        yield conn
