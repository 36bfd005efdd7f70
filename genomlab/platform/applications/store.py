"""Where the application workflow keeps its state: the platform institution's ledger and tables.

The ledger and its read connection are the platform's (:mod:`genomlab.platform.store`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection

from genomlab.config import GenomlabConfig
from genomlab.ledger import Ledger
from genomlab.platform import store as platform_store  # a module: the two import each other

APPROVAL_KEY = "approval"
"""Name of the platform key that signs approvals; its public key is
``<home>/platform/keys/approval.pub.pem``."""



def open_platform_ledger(config: GenomlabConfig,
                         clock: Callable[[], datetime] | None = None) -> Ledger:
    """The platform ledger with all its projections (:func:`platform_store.open_platform_ledger`).
    """
    return platform_store.open_platform_ledger(config, clock)


def read_platform(config: GenomlabConfig) -> AbstractContextManager[Connection]:
    """A read-only connection to the platform store (:func:`platform_store.read_platform`)."""
    return platform_store.read_platform(config)
