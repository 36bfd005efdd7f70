"""Who acts in a person-facing command: the verified subject of the person's credentials.

:func:`open_person_session` reads the person's credentials file (``--credentials FILE``, else
``$GENOMLAB_CREDENTIALS``, else ``~/.genomlab/credentials.json``) and

- when the platform service runs (its record ``<home>/services/platform.json`` exists, or, for
  an account that can read neither that record nor the platform's store, the URL and CA the
  credentials file was issued with): takes a token at its token endpoint and calls it over HTTPS
  (:class:`genomlab.clients.platform.PlatformPersonClient`); the service verifies the token at
  every request and acts as its subject;
- otherwise (embedded default, one account holds the home): checks the credentials against the
  platform store, issues a token and verifies it with the same function every service uses
  (:func:`genomlab.platform.access_tokens.verify_person_token`), and runs the action in-process
  as the verified subject.

Either way no name the caller types, sets in the environment (``JUPYTERHUB_USER``,
``GENOMLAB_LOCAL_USER``) or writes into the file's ``user_id`` decides who acts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from genomlab.config import GenomlabConfig
from genomlab.errors import PermissionDenied
from genomlab.platform.person_actions import run_person_action
from genomlab.platform.person_credentials import (
    PersonCredentials,
    get_credentials_path,
    load_person_credentials,
)


class PersonSession(Protocol):
    """A verified person and the way their actions reach the platform."""

    @property
    def user_id(self) -> str: ...

    @property
    def roles(self) -> tuple[str, ...]: ...

    def act(self, name: str, target: str | None, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ServiceSession:
    """Actions over HTTPS to the running platform service, with the person's token."""

    client: Any
    user_id: str
    roles: tuple[str, ...]

    def act(self, name: str, target: str | None, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.client.act(name, target, body)  # PlatformPersonClient
        return result


@dataclass(frozen=True)
class EmbeddedSession:
    """Actions in-process, as the subject of a token verified against the platform store."""

    config: GenomlabConfig
    user_id: str
    roles: tuple[str, ...]

    def act(self, name: str, target: str | None, body: dict[str, Any]) -> dict[str, Any]:
        from genomlab.platform.applications.workflow import Workflow

        return run_person_action(Workflow(self.config), self.user_id, name, target, body)


def get_platform_endpoint(config: GenomlabConfig, credentials: PersonCredentials) -> Any:
    """Where the person reaches the platform service, or ``None`` for the embedded path.

    The service's record (``<home>/services/platform.json``: its current port) if this account
    can read it; else, if this account cannot open the platform's store either (a researcher's
    account in a separated deployment), the URL and CA certificate the credentials file was
    issued with; else ``None``: no service runs, and the store is checked in-process.
    """
    from genomlab.clients.oauth import ServiceEndpoint, ServiceUnavailable, get_service_endpoint
    from genomlab.institution import Institution

    try:
        return get_service_endpoint(config, "platform")
    except (ServiceUnavailable, PermissionError):
        pass
    platform_dir = Institution(config, "platform").directory
    store_readable = platform_dir.is_dir() and platform_store_readable(config)
    if not store_readable and credentials.platform_url and credentials.ca_pem:
        return ServiceEndpoint("platform", credentials.platform_url, None, credentials.ca_pem)
    return None


def platform_store_readable(config: GenomlabConfig) -> bool:
    """Whether this account may open the platform's store (a fresh home: yes, it will make
    it); a person's account in a separated deployment (behind the hub) may not."""
    from genomlab.institution import Institution

    platform_dir = Institution(config, "platform").directory
    try:
        return not platform_dir.exists() or os.access(platform_dir, os.R_OK | os.X_OK)
    except OSError:
        return False


def get_member_projects(config: GenomlabConfig, user: str, at: datetime | None = None,
                        credentials_path: Path | None = None) -> list[dict[str, Any]]:
    """``user``'s active projects with team and DUO codes
    (:func:`genomlab.platform.applications.queries.get_member_projects`): read in this process
    if this account may open the platform's store, else asked of the platform service with the
    credentials file's token, which answers for its verified person only: ``user`` must be
    that person (else :class:`PermissionDenied`)."""
    if platform_store_readable(config):
        from genomlab.platform.applications.queries import get_member_projects as read

        return read(config, user, at)
    session = open_person_session(config, credentials_path)
    if session.user_id != user or not isinstance(session, ServiceSession):
        raise PermissionDenied(f"projects of {user}: this account cannot read the platform's "
                               f"store, and its credentials speak for {session.user_id}")
    projects: list[dict[str, Any]] = session.client.get_member_projects(at)
    return projects


def verify_embedded(config: GenomlabConfig, credentials: PersonCredentials) -> Any:
    """The verified person of ``credentials`` against the platform store (no service running):
    the client secret checked against the store (constant time), then the same standing check
    as :func:`verify_person_token`'s second step (registered, not withdrawn, credential
    active). No token is minted in-process, so reading the store is enough: a person's server
    that may read the platform store never needs the platform's signing key."""
    from genomlab.platform.access_tokens import InvalidToken, VerifiedPerson
    from genomlab.platform.oauth_clients import InvalidClient
    from genomlab.platform.person_credentials import authenticate_person, get_person_status

    try:
        person = authenticate_person(config, credentials.client_id, credentials.client_secret)
        status = get_person_status(config, person.user_id)
        if not status.get("active") or person.client_id not in status.get(
                "active_credentials", ()):
            raise InvalidToken(f"{person.user_id} or credential {person.client_id} is no "
                               "longer active at the platform")
        return VerifiedPerson(person.user_id, person.client_id,
                              tuple(status.get("roles", ())), str(status.get("institution", "")))
    except (InvalidClient, InvalidToken) as exc:
        raise PermissionDenied(f"credentials {credentials.client_id}: {exc}") from exc


def open_person_session(
    config: GenomlabConfig,
    credentials_path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> PersonSession:
    """The verified person of the credentials file (see the module's description)."""
    path = get_credentials_path(credentials_path, environ)
    credentials = load_person_credentials(path)
    endpoint = get_platform_endpoint(config, credentials)
    if endpoint is not None:
        from genomlab.clients.platform import PlatformPersonClient

        client = PlatformPersonClient(config, credentials, lambda: endpoint)
        me = client.whoami()
        return ServiceSession(client, str(me["user_id"]), tuple(me.get("roles", ())))
    person = verify_embedded(config, credentials)
    return EmbeddedSession(config, person.user_id, person.roles)


def get_verified_user(
    config: GenomlabConfig,
    credentials_path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> str:
    """The user id of the verified person of the credentials file: what a notebook, dashboard
    or command that still calls the domain functions in-process passes as their ``user``,
    instead of ``$JUPYTERHUB_USER`` or ``local_user`` (names nobody verified)."""
    return open_person_session(config, credentials_path, environ).user_id
