"""``genomlab-people``: a hub service that learns who calls from the hub's OAuth token.

A JupyterHub-managed service (``/services/genomlab-people/``) built on JupyterHub's own service
authentication (``HubOAuthenticated``): a browser is sent through the hub's OAuth flow, a
server or kernel calls with ``Authorization: token <its hub API token>``; either way the hub
says who the token belongs to. Nothing the caller sends about itself (``$JUPYTERHUB_USER``,
a header, a query) is read. The answer is the caller's hub name and the groups the platform's
role records give that name now (:func:`genomlab.hub.groups.get_hub_groups`): what a
hub-authenticated genomlab page uses to show each person only what the role allows.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any
from urllib.parse import urlsplit

from jupyterhub.services.auth import (  # type: ignore[import-untyped]
    HubOAuthCallbackHandler,
    HubOAuthenticated,
)
from jupyterhub.utils import url_path_join  # type: ignore[import-untyped]
from tornado import ioloop, web

from genomlab.config import load_config
from genomlab.hub.groups import get_hub_groups

SERVICE_NAME = "genomlab-people"


class WhoAmIHandler(HubOAuthenticated, web.RequestHandler):
    """``GET``: the caller by the hub's token, with their platform groups (JSON)."""

    @web.authenticated
    def get(self) -> None:
        user: dict[str, Any] = self.get_current_user()
        name = user["name"]
        config = load_config(os.environ.get("GENOMLAB_CONFIG"))
        groups = sorted(g for g, members in get_hub_groups(config).items() if name in members)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(
            json.dumps({"name": name, "platform_groups": groups, "kind": user.get("kind", "user")})
        )


def make_app() -> web.Application:
    """The service's tornado application under ``$JUPYTERHUB_SERVICE_PREFIX``."""
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    return web.Application(
        [
            (prefix, WhoAmIHandler),
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=secrets.token_bytes(32),
    )


def main() -> None:  # pragma: no cover - run by the hub as a managed service
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app().listen(url.port or 80, url.hostname or "127.0.0.1")
    ioloop.IOLoop.current().start()


if __name__ == "__main__":  # pragma: no cover
    main()
