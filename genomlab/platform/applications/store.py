"""Where the application workflow keeps its state: the platform institution's ledger and tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from genomlab.config import GenomlabConfig
from genomlab.db import read_connection
from genomlab.institution import Institution
from genomlab.ledger import Ledger
from genomlab.platform.applications.projection import PROJECTION

APPROVAL_KEY = "approval"
"""Name of the platform key that signs approvals; its public key is
``<home>/platform/keys/approval.pub.pem``."""

_READY: set[str] = set()


def open_platform_ledger(config: GenomlabConfig,
                         clock: Callable[[], datetime] | None = None) -> Ledger:
    """The platform ledger with the applications projection attached.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> import tempfile
    >>> ledger = open_platform_ledger(load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()}))
    >>> ledger.institution
    'platform'
    """
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    ledger = Institution(config, "platform").ledger(projections=[PROJECTION], **kwargs)
    _READY.add(ledger.engine.url.render_as_string(hide_password=False))
    return ledger


@contextmanager
def read_platform(config: GenomlabConfig) -> Iterator[Connection]:
    """A read-only connection to the platform store (tables created on first use; no lock)."""
    engine = Institution(config, "platform").engine()
    url = engine.url.render_as_string(hide_password=False)
    if url not in _READY:
        PROJECTION.metadata.create_all(engine)
        _READY.add(url)
    with read_connection(engine) as conn:
        yield conn
