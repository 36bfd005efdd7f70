"""Who is acting in the airlock in-process: the verified person of the credentials file
(``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``), never a name from the
environment (see :mod:`genomlab.platform.applications.identity`)."""

from __future__ import annotations

from genomlab.platform.applications.identity import get_current_user

__all__ = ["get_current_user"]
