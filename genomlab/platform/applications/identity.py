"""Who is acting: ``$JUPYTERHUB_USER`` (JupyterHub, Voila behind the hub), else the local user."""

from __future__ import annotations

import os
from collections.abc import Mapping

from genomlab.config import GenomlabConfig

IDENTITY_ENV = "JUPYTERHUB_USER"


def get_current_user(config: GenomlabConfig, environ: Mapping[str, str] | None = None) -> str:
    """The acting user's id; roles come from the platform store, never from the environment.

    Examples
    --------
    >>> from genomlab.config import load_config
    >>> get_current_user(load_config(environ={"GENOMLAB_LOCAL_USER": "eve"}), environ={})
    'eve'
    >>> get_current_user(load_config(environ={}), environ={"JUPYTERHUB_USER": "hanna"})
    'hanna'
    """
    environ = os.environ if environ is None else environ
    return environ.get(IDENTITY_ENV, "").strip() or config.local_user
