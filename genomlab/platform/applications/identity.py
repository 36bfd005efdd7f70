"""Who is acting: the verified person of the running account's (or kernel's) credentials file.

``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json`` (or an explicit path): the
platform checks the credential (its service when it runs, else its store) and the acting
person is the credential's subject (:func:`genomlab.platform.person_session.get_verified_user`).
Names in the environment (``JUPYTERHUB_USER``, ``GENOMLAB_LOCAL_USER``) decide nothing
(issue 15); roles come from the platform store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genomlab.config import GenomlabConfig


def get_current_user(config: GenomlabConfig, environ: Mapping[str, str] | None = None,
                     credentials: Path | str | None = None) -> str:
    """The verified acting person's user id (see the module's description).

    Raises :class:`~genomlab.errors.GenomlabError` (a missing or unreadable credentials file)
    or :class:`~genomlab.errors.PermissionDenied` (a credential the platform does not accept).
    """
    from genomlab.platform.person_session import get_verified_user

    return get_verified_user(config, None if credentials is None else Path(credentials),
                             None if environ is None else dict(environ))
