"""The ``jupyterhub_config.py`` genomlab writes: what the hub does, readable in one file.

:func:`render_hub_config` turns :class:`HubSettings` into the text of a JupyterHub
configuration file; ``genomlab hub config --out jupyterhub_config.py`` writes it and ``genomlab
hub start`` runs ``jupyterhub -f`` with it. The file sets only JupyterHub's own traits:

- **Sign-in:** JupyterHub's ``PAMAuthenticator`` (the machine's OS accounts and passwords);
  only registered platform users are allowed (``allowed_users``, read when the hub starts). A
  real deployment replaces these two lines with OAuthenticator's ``GenericOAuthenticator``
  against the institution's OIDC identity provider (``docs/deployment.md``); no custom
  authenticator.
- **Servers:** JupyterHub's ``LocalProcessSpawner``; the hub runs as root, so each server runs
  under its person's own uid and home (``jupyterhub-singleuser`` of this installation, bound to
  127.0.0.1). The pre-spawn hook (:func:`genomlab.hub.spawn.make_pre_spawn_hook`) puts the
  person's platform credentials file into ``~/.genomlab/credentials.json`` (0600) and the
  dashboards' notebooks into ``~/genomlab-notebooks``.
- **Groups:** ``load_groups`` from the platform's role records, read at every start of the hub
  (:func:`genomlab.hub.groups.get_hub_people`; only platform users with an OS account here).
- **Network:** the proxy, the hub and every server listen on 127.0.0.1 only. Each person's
  server runs in a network namespace of its own that reaches only the hub's API, the
  ``genomlab-people`` service and genomlab's running services
  (:class:`genomlab.hub.netns.PersonNetworks`, ``isolate_network``).
- **Workspaces:** each project workspace is its project group's (``group_prefix``), set before
  every server starts (:mod:`genomlab.hub.workspaces`).
"""

from __future__ import annotations

import ipaddress
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from genomlab.deploy.layout import check_prefix
from genomlab.errors import NotFoundError, ValidationFailed

PROXY_VERSION = "5.3.0"
"""configurable-http-proxy from npm, pinned (``.ci/setup --test-tools`` installs it into
``.hub-tools/node_modules``)."""
REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_PROXY = REPO_ROOT / ".hub-tools" / "node_modules" / ".bin" / "configurable-http-proxy"


def find_proxy() -> Path:
    """configurable-http-proxy: the project-local npm install, else the one on ``PATH``."""
    if LOCAL_PROXY.exists():
        return LOCAL_PROXY
    found = shutil.which("configurable-http-proxy")
    if found is None:
        raise NotFoundError(
            f"configurable-http-proxy not found (neither {LOCAL_PROXY} nor on PATH); install it "
            f"with .ci/setup --test-tools (npm configurable-http-proxy@{PROXY_VERSION})"
        )
    return Path(found)


@dataclass(frozen=True)
class HubSettings:
    """What a hub of genomlab needs: the genomlab configuration every server reads, the hub's
    own state folder, its loopback ports and the proxy."""

    genomlab_config: Path
    state_dir: Path
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    service_port: int = 8002
    group_sync_seconds: float = 60.0
    """How often ``genomlab-people`` syncs the hub's groups from the platform."""
    """The ``genomlab-people`` service (:mod:`genomlab.hub.people_service`)."""
    ip: str = "127.0.0.1"
    proxy: Path = field(default_factory=find_proxy)
    python: Path = Path(sys.executable)
    """The interpreter of people's servers (``python -m jupyterhub.singleuser``): an
    environment with genomlab that every person's account can read and run."""
    server_env: dict[str, str] = field(default_factory=dict)
    """Further environment of people's servers (e.g. ``LD_LIBRARY_PATH`` of that Python)."""
    hub_admins: tuple[str, ...] = ()
    default_url: str = "/lab"
    isolate_network: bool = True
    """Each person's server in its own network namespace, outbound to genomlab only."""
    group_prefix: str = "genomlab-"
    """Project groups are ``<group_prefix>p-<project id>`` (as ``genomlab deploy setup``)."""
    dashboard_kernels: int = 1
    """Warm kernels each person's server keeps for dashboard visits (imports only, bound to the
    visit's request when taken; :mod:`genomlab.dashboards.kernel_pool`); 0: a fresh kernel per
    visit."""

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.ip).is_loopback:
            raise ValidationFailed(
                f"hub: ip {self.ip}: genomlab's hub listens on loopback only; put a TLS reverse "
                "proxy in front of it for other machines (docs/deployment.md)"
            )
        ports = (self.port, self.hub_port, self.proxy_api_port, self.service_port)
        if len(set(ports)) != 4 or not all(0 < p < 65536 for p in ports):
            raise ValidationFailed(f"hub: ports {ports}: four different ports 1–65535 needed")
        check_prefix(self.group_prefix)
        if not 0 <= self.dashboard_kernels <= 8:
            raise ValidationFailed(f"hub: dashboard_kernels {self.dashboard_kernels}: 0–8")


def _py(value: object) -> str:
    """A Python literal of ``value`` (paths as strings)."""
    if isinstance(value, Path):
        return repr(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    return repr(value)


def render_hub_config(settings: HubSettings) -> str:
    """The text of ``jupyterhub_config.py`` for ``settings``.

    Examples
    --------
    >>> text = render_hub_config(HubSettings(Path("/srv/genomlab.toml"), Path("/srv/hub"),
    ...                                      proxy=Path("/opt/chp")))
    >>> "c.JupyterHub.authenticator_class = 'pam'" in text
    True
    >>> "c.JupyterHub.bind_url = 'http://127.0.0.1:8000'" in text
    True
    >>> compile(text, "jupyterhub_config.py", "exec") is not None
    True
    """
    s = settings
    state = s.state_dir
    networks = (
        f"PersonNetworks(genomlab, hub_ports=[{s.hub_port}, {s.service_port}])"
        if s.isolate_network
        else "None"
    )
    return f"""# jupyterhub_config.py written by `genomlab hub config` (genomlab.hub.hub_config).
# Re-generate rather than edit: the platform stays the source of truth for people and roles.
from genomlab.config import load_config
from genomlab.hub.groups import get_hub_people
from genomlab.hub.netns import PersonNetworks
from genomlab.hub.spawn import get_server_environment, make_pre_spawn_hook

c = get_config()  # noqa: F821 - provided by JupyterHub
GENOMLAB_CONFIG = {_py(s.genomlab_config)}
genomlab = load_config(GENOMLAB_CONFIG)
PEOPLE, GROUPS = get_hub_people(genomlab)  # platform users with an OS account here

# Network: the proxy (public side), the hub and every server on loopback only.
c.JupyterHub.bind_url = {_py(f"http://{s.ip}:{s.port}")}
c.JupyterHub.hub_bind_url = {_py(f"http://{s.ip}:{s.hub_port}")}
c.ConfigurableHTTPProxy.api_url = {_py(f"http://{s.ip}:{s.proxy_api_port}")}
c.ConfigurableHTTPProxy.command = {_py([s.proxy])}
c.ConfigurableHTTPProxy.pid_file = {_py(state / "proxy.pid")}
c.ConfigurableHTTPProxy.should_start = True

# The hub's own state (0700 folder): its database and cookie secret.
c.JupyterHub.db_url = {_py(f"sqlite:///{state / 'jupyterhub.sqlite'}")}
c.JupyterHub.cookie_secret_file = {_py(state / "jupyterhub_cookie_secret")}
c.JupyterHub.pid_file = {_py(state / "jupyterhub.pid")}
c.JupyterHub.cleanup_servers = True

# Sign-in: PAM with the machine's OS accounts; registered platform users only.
# Real deployment: c.JupyterHub.authenticator_class = "generic-oauth" (OAuthenticator) with the
# identity provider's OIDC endpoints; see docs/deployment.md ("People sign in: the hub").
c.JupyterHub.authenticator_class = 'pam'
c.PAMAuthenticator.open_sessions = False
c.PAMAuthenticator.check_account = True
c.Authenticator.allowed_users = PEOPLE
c.Authenticator.admin_users = set({_py(list(s.hub_admins))})
c.Authenticator.manage_groups = False

# Groups from the platform's role records, read at every start of the hub (and synced by the
# genomlab-people service while it runs).
c.JupyterHub.load_groups = {{name: {{"users": members}} for name, members in GROUPS.items()}}

# One server per person, under the person's own OS account (the hub runs as root).
c.JupyterHub.spawner_class = 'jupyterhub.spawner.LocalProcessSpawner'
PYTHON = {_py(s.python)}
SERVER_ENV = {s.server_env!r}
c.Spawner.cmd = [PYTHON, '-m', 'jupyterhub.singleuser']
c.Spawner.ip = {_py(s.ip)}
c.Spawner.notebook_dir = '~'
c.Spawner.default_url = {_py(s.default_url)}
# Dashboards through the server's Voila extension with genomlab's template. Voila's extension
# would load MathJax from cdnjs unless told "null" (then it uses the bundled MathJax): nothing
# a person's browser loads comes from outside the hub.
c.Spawner.args = [
    '--VoilaConfiguration.template=genomlab',
    '--ServerApp.tornado_settings=mathjax_url=null',
    '--ServerApp.tornado_settings=mathjax_config=null',
    # Warm kernels for dashboard visits: started and importing the dashboards before any
    # request, bound to the visit's request (environment, folder) when Voila takes one; the
    # notebook then opens the person's session as in a fresh kernel. The pool is in the
    # person's own server; no kernel of one person ever serves another.
    '--ServerApp.kernel_manager_class=genomlab.dashboards.kernel_pool.WarmKernelManager',
    '--WarmKernelManager.pool_size={s.dashboard_kernels}',
]
c.Spawner.environment = {{**get_server_environment(GENOMLAB_CONFIG), **SERVER_ENV}}
# Each server in its own network namespace: only the hub's API, genomlab-people and genomlab's
# running services are reachable from it (genomlab.hub.netns); every project workspace is its
# project group's (genomlab.hub.workspaces), set before each server starts.
NETWORKS = {networks}
c.Spawner.pre_spawn_hook = make_pre_spawn_hook(
    GENOMLAB_CONFIG, PYTHON, SERVER_ENV, networks=NETWORKS, group_prefix={_py(s.group_prefix)}
)
if NETWORKS is not None:
    c.Spawner.post_stop_hook = NETWORKS.post_stop_hook
c.Spawner.start_timeout = 120
# A server's own token ($JUPYTERHUB_API_TOKEN) may post activity, reach its server, and call
# genomlab-people, which then learns the server's owner from the token (nothing more).
c.JupyterHub.load_roles = [
    {{
        'name': 'user',
        'description': 'Standard user privileges, and genomlab-people',
        'scopes': ['self', 'access:services!service=genomlab-people'],
    }},
    {{
        'name': 'genomlab-groups',
        'description': 'genomlab-people syncs the hub groups from the platform',
        'scopes': ['admin:groups', 'list:users', 'read:users:name'],
        'services': ['genomlab-people'],
    }},
]
c.Spawner.server_token_scopes = [
    'users:activity!user',
    'access:servers!server',
    'access:services!service=genomlab-people',
]

# genomlab-people: a hub service that learns who calls from the hub's OAuth token only.
c.JupyterHub.services = [{{
    'name': 'genomlab-people',
    'url': {_py(f"http://{s.ip}:{s.service_port}")},
    'command': [{_py(sys.executable)}, '-m', 'genomlab.hub.people_service'],
    'environment': {{'GENOMLAB_CONFIG': GENOMLAB_CONFIG,
                     'HUB_GROUP_SYNC_SECONDS': {_py(str(s.group_sync_seconds))}}},
    'oauth_no_confirm': True,
    'display': False,
}}]
c.Spawner.http_timeout = 90
"""
