"""``genomlab-people``: a hub service that learns who calls from the hub's OAuth token.

A JupyterHub-managed service (``/services/genomlab-people/``) built on JupyterHub's own service
authentication (``HubOAuthenticated``): a browser is sent through the hub's OAuth flow, a
server or kernel calls with ``Authorization: token <its hub API token>``; either way the hub
says who the token belongs to. Nothing the caller sends about itself (``$JUPYTERHUB_USER``,
a header, a query) is read. The answer is the caller's hub name and the groups the platform's
role records give that name now (:func:`genomlab.hub.groups.get_hub_groups`): what a
hub-authenticated genomlab page uses to show each person only what the role allows.

The service also keeps the hub's groups in step with the platform: every
``$HUB_GROUP_SYNC_SECONDS`` (default 60; not a ``GENOMLAB_*`` name, which the configuration
would read as a key) :func:`sync_groups` sets each group's members through the hub's REST API
with the service's own token (role ``genomlab-groups``: scopes ``admin:groups`` and
``list:users``), so a granted or withdrawn role reaches the hub without a restart. Only people
the hub knows are synced.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx
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


async def sync_groups(api_url: str, token: str, wanted: dict[str, list[str]]) -> dict[str, Any]:
    """Make the hub's groups ``wanted`` (members limited to the hub's users); returns what
    changed: ``{"created": [...], "added": {group: [...]}, "removed": {group: [...]}}``."""
    headers = {"Authorization": f"token {token}"}
    changed: dict[str, Any] = {"created": [], "added": {}, "removed": {}}
    async with httpx.AsyncClient(
        base_url=api_url.rstrip("/") + "/", headers=headers, timeout=30
    ) as hub:
        users_answer = await hub.get("users", params={"limit": 10_000})
        users_answer.raise_for_status()
        known = {u["name"] for u in users_answer.json()}
        groups_answer = await hub.get("groups", params={"limit": 10_000})
        groups_answer.raise_for_status()
        present = {g["name"]: set(g["users"]) for g in groups_answer.json()}
        for name, members in sorted(wanted.items()):
            target = set(members) & known
            if name not in present:
                (await hub.post(f"groups/{name}")).raise_for_status()
                changed["created"].append(name)
                present[name] = set()
            add, remove = sorted(target - present[name]), sorted(present[name] - target)
            if add:
                (await hub.post(f"groups/{name}/users", json={"users": add})).raise_for_status()
                changed["added"][name] = add
            if remove:
                answer = await hub.request("DELETE", f"groups/{name}/users", json={"users": remove})
                answer.raise_for_status()
                changed["removed"][name] = remove
    return changed


async def _sync_forever(seconds: float) -> None:  # pragma: no cover - the service's loop
    api_url, token = os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
    while True:
        await asyncio.sleep(seconds)
        try:
            config = load_config(os.environ.get("GENOMLAB_CONFIG"))
            wanted = await asyncio.to_thread(get_hub_groups, config)
            changed = await sync_groups(api_url, token, wanted)
            if changed["created"] or changed["added"] or changed["removed"]:
                print(f"genomlab-people: groups synced: {json.dumps(changed)}", flush=True)
        except Exception as exc:
            print(f"genomlab-people: group sync failed: {exc}", flush=True)


def main() -> None:  # pragma: no cover - run by the hub as a managed service
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app().listen(url.port or 80, url.hostname or "127.0.0.1")
    seconds = float(os.environ.get("HUB_GROUP_SYNC_SECONDS", "60"))
    loop = ioloop.IOLoop.current()
    loop.add_callback(_sync_forever, seconds)
    loop.start()


if __name__ == "__main__":  # pragma: no cover
    main()
