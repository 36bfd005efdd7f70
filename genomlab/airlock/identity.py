"""Who is acting: the JupyterHub user when running under JupyterHub, else ``config.local_user``."""

from __future__ import annotations

import os

from genomlab.config import GenomlabConfig


def get_current_user(config: GenomlabConfig) -> str:
    """``$JUPYTERHUB_USER`` if set, else the configured local user.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> get_current_user(load_config(environ={"GENOMLAB_LOCAL_USER": "alice"})) in (
    ...     "alice", os.environ.get("JUPYTERHUB_USER"))
    True
    """
    return os.environ.get("JUPYTERHUB_USER") or config.local_user
