"""Before a person's server starts: their credentials and notebooks, in their own account.

JupyterHub's ``LocalProcessSpawner`` (hub as root) runs each server under the person's OS
account. Its ``pre_spawn_hook`` (:func:`make_pre_spawn_hook`) first

- copies the person's platform credentials file, issued by the platform's operator with
  ``genomlab platform users issue-credential USER`` (embedded default place
  ``<home>/people/USER/credentials.json``, root-only), into ``~/.genomlab/credentials.json``
  (folder 0700, file 0600, owned by the person) and points ``$GENOMLAB_CREDENTIALS`` at it:
  genomlab's clients in the person's kernels take tokens with it, and every service learns who
  is calling from that token's verified subject, never from ``$JUPYTERHUB_USER``;
- copies genomlab's notebooks (dashboards, feasibility, cohort QC) into
  ``~/genomlab-notebooks`` unless they are there already (the person's edits are kept);
- gives every project workspace its project's group and modes (:mod:`genomlab.hub.workspaces`),
  so the person's server sees only their projects' workspaces;
- with ``networks``, opens the person's network namespace and its forwarder
  (:mod:`genomlab.hub.netns`) and starts the server inside it, on the forwarder's host port.

The files are written by a short child process that runs *as the person* (uid, gid, no
supplementary groups): the root hub never follows a link the person may have planted in their
own home. A person without an issued credential still gets a server; genomlab's clients then
say which file is missing and how it is issued.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jupyterhub.spawner import set_user_setuid  # type: ignore[import-untyped]

from genomlab.config import CONFIG_ENV, CREDENTIALS_ENV, load_config
from genomlab.dashboards.first_screen import TEMPLATE_ROOT
from genomlab.deploy.layout import DEFAULT_PREFIX
from genomlab.errors import GenomlabError, PermissionDenied
from genomlab.hub.netns import PersonNetworks, make_preexec_fn
from genomlab.hub.workspaces import set_workspace_access
from genomlab.platform.person_credentials import get_embedded_credentials_path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ACCOUNT_CREDENTIALS = Path(".genomlab") / "credentials.json"
ACCOUNT_NOTEBOOKS = "genomlab-notebooks"
_INSTALL = r"""
import os, shutil, sys
from pathlib import Path
home = Path(os.environ["HOME"])
data = sys.stdin.buffer.read()
folder = home / ".genomlab"
folder.mkdir(mode=0o700, exist_ok=True)
if folder.is_symlink() or not folder.is_dir():
    sys.exit(f"{folder}: not a folder")
os.chmod(folder, 0o700)
if data:
    tmp = folder / ".credentials.json.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, folder / "credentials.json")
notebooks = home / sys.argv[1]
notebooks.mkdir(exist_ok=True)
for source in sys.argv[2:]:
    target = notebooks / os.path.basename(source)
    if not target.exists() and not target.is_symlink():
        shutil.copyfile(source, target)
"""


def get_server_environment(genomlab_config: str | os.PathLike[str]) -> dict[str, str]:
    """What every person's server gets in its environment: the genomlab configuration and
    genomlab's Voila template (dashboards served by the server's Voila extension).

    Examples
    --------
    >>> get_server_environment("/srv/genomlab.toml")["GENOMLAB_CONFIG"]
    '/srv/genomlab.toml'
    """
    return {CONFIG_ENV: str(genomlab_config), "JUPYTER_PATH": str(TEMPLATE_ROOT)}


async def install_into_account(
    account: pwd.struct_passwd,
    credentials: bytes | None,
    notebooks: list[Path],
    python: str | os.PathLike[str] = sys.executable,
    env: dict[str, str] | None = None,
) -> None:
    """Write ``credentials`` and copy ``notebooks`` into ``account``'s home, as that account
    (``python``: an interpreter the account may run, ``env`` its further environment)."""
    if os.geteuid() not in (0, account.pw_uid):
        raise PermissionDenied(
            f"hub: cannot start {account.pw_name}'s server as uid {os.geteuid()}: the hub runs "
            "as root to start each server under its person's own account"
        )
    if not Path(account.pw_dir).is_dir():
        raise GenomlabError(f"hub: {account.pw_name}: home {account.pw_dir} does not exist")
    process = await asyncio.create_subprocess_exec(
        str(python),
        "-I",
        "-c",
        _INSTALL,
        ACCOUNT_NOTEBOOKS,
        *map(str, notebooks),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=account.pw_dir,
        env={"HOME": account.pw_dir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **(env or {})},
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
    )
    output, _ = await process.communicate(credentials or b"")
    if process.returncode != 0:
        raise GenomlabError(
            f"hub: {account.pw_name}: installing files failed: "
            f"{output.decode(errors='replace')[-500:]}"
        )


def make_pre_spawn_hook(
    genomlab_config: str | os.PathLike[str],
    python: str | os.PathLike[str] = sys.executable,
    env: dict[str, str] | None = None,
    networks: PersonNetworks | None = None,
    group_prefix: str = DEFAULT_PREFIX,
) -> Callable[[Any], Awaitable[None]]:
    """JupyterHub's ``Spawner.pre_spawn_hook`` for genomlab (see the module's description)."""
    groups_changing = asyncio.Lock()  # one group change at a time (groupdel + groupadd)

    async def pre_spawn_hook(spawner: Any) -> None:
        name = spawner.user.name
        try:
            account = pwd.getpwnam(name)
        except KeyError as exc:
            raise GenomlabError(f"hub: {name} has no OS account on this machine") from exc
        config = load_config(genomlab_config)
        async with groups_changing:
            await asyncio.to_thread(set_workspace_access, config, group_prefix)
        source = get_embedded_credentials_path(config, name)
        credentials = source.read_bytes() if source.is_file() else None
        if credentials is None:
            spawner.log.warning(
                "genomlab: %s has no issued credential at %s (genomlab platform "
                "users issue-credential %s)",
                name,
                source,
                name,
            )
        notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
        await install_into_account(account, credentials, notebooks, python, env)
        spawner.environment = {
            **spawner.environment,
            CREDENTIALS_ENV: str(Path(account.pw_dir) / ACCOUNT_CREDENTIALS),
        }
        if networks is not None:
            netns, spawner.port = await networks.open(name)
            # JupyterHub's own switch to the account (groups read now, after the change above),
            # once the child has entered the namespace
            spawner.popen_kwargs = {
                **spawner.popen_kwargs,
                "preexec_fn": make_preexec_fn(netns, set_user_setuid(name)),
            }

    return pre_spawn_hook
