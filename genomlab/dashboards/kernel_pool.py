"""Warm kernels for the dashboards in a person's server behind the hub (issue 16).

Voila's server extension (the ``/voila/render/…`` pages of a person's Jupyter server) starts a
new kernel for every visit, and its ``preheat_kernel``/``pool_size`` options apply to the
stand-alone ``voila`` application only (its handler falls back to a fresh kernel in the server
extension). A fresh kernel then spends most of a dashboard's first screen starting Python and
importing ipywidgets and genomlab's dashboards (seconds on a loaded machine).

:class:`WarmKernelManager` is the person's server's kernel manager
(``--ServerApp.kernel_manager_class``, set by the hub's configuration). It keeps ``pool_size``
kernels that have **only** started and imported the dashboards' modules (``WARM_IMPORTS``; the
code runs silently and binds no name in the kernel's namespace). Nothing about a person is read
before a request: no credentials file, no platform store, no service. When Voila asks for a
kernel for a visit (its start request carries ``VOILA_REQUEST_URL``), the manager hands out a
warm kernel and first *binds* it to the request: the environment Voila gives a fresh kernel for
that request (request URL, query string, …) is set in the kernel and its working folder becomes
the notebook's; then Voila runs the notebook in it, which opens the person's session from their
credentials file like in a fresh kernel. A warm kernel serves one visit only (Voila shuts it
down when the page closes); the pool is refilled in the background. Kernels that JupyterLab or
the kernels API start are ordinary fresh kernels.

The pool lives in the person's own server, under the person's own account: a warm kernel holds
that server's environment (the same as any kernel there) and the imported modules, and nothing
of another person. ``?genomlab-kernel=fresh`` on a dashboard's URL gives that visit a fresh
kernel (the way before the pool; ``benchmarks/hub_first_screen.py`` measures both).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import ApiPath
from tornado.ioloop import IOLoop
from traitlets import Float, Int, List, Unicode

#: Imported in a warm kernel before any request: the dashboards and what they load.
WARM_IMPORTS = (
    "ipywidgets",
    "IPython.display",
    "sqlalchemy",
    "genomlab.config",
    "genomlab.dashboards.approvals",
    "genomlab.dashboards.airlock",
    "genomlab.dashboards.register",
    "genomlab.dashboards.platform",
    "genomlab.dashboards.ledger_health",
)
FRESH_QUERY = "genomlab-kernel=fresh"
"""In a dashboard URL's query: this visit gets a fresh kernel, not a warm one."""


def get_warm_code(modules: tuple[str, ...] | list[str]) -> str:
    """Code that imports ``modules`` (a module that fails to import is skipped) and leaves no
    name behind in the kernel's namespace.

    Examples
    --------
    >>> namespace: dict = {}
    >>> exec(get_warm_code(["json", "no_such_module_here"]), namespace)
    >>> sorted(k for k in namespace if not k.startswith("__"))
    []
    """
    return (
        "def _genomlab_warm(modules):\n"
        "    import importlib\n"
        "    for name in modules:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except Exception:\n"
        "            pass\n"
        f"_genomlab_warm({list(modules)!r})\n"
        "del _genomlab_warm\n"
    )


def get_bind_code(started_env: dict[str, str], request_env: dict[str, str], cwd: str) -> str:
    """Code that turns a kernel started with ``started_env`` into one started with
    ``request_env`` in ``cwd``: changed and new variables set, missing ones removed. The values
    travel as base64 of JSON, so no input transformation of the kernel touches them.

    Examples
    --------
    >>> import os
    >>> code = get_bind_code({"A": "1", "GONE": "x"}, {"A": "1", "QUERY_STRING": "p=2?"}, ".")
    >>> os.environ["GONE"] = "x"
    >>> exec(code, {})
    >>> os.environ["QUERY_STRING"], "GONE" in os.environ
    ('p=2?', False)
    >>> del os.environ["QUERY_STRING"]
    """
    changed = {k: v for k, v in request_env.items() if started_env.get(k) != v}
    removed = sorted(k for k in started_env if k not in request_env)
    data = base64.b64encode(json.dumps([changed, removed, cwd]).encode()).decode()
    return (
        "def _genomlab_bind(data):\n"
        "    import base64, json, os\n"
        "    changed, removed, cwd = json.loads(base64.b64decode(data))\n"
        "    os.environ.update(changed)\n"
        "    for key in removed:\n"
        "        os.environ.pop(key, None)\n"
        "    os.chdir(cwd)\n"
        f"_genomlab_bind({data!r})\n"
        "del _genomlab_bind\n"
    )


def is_dashboard_request(env: dict[str, str] | None) -> bool:
    """Whether a kernel start comes from a Voila page visit that may use a warm kernel.

    Examples
    --------
    >>> is_dashboard_request({"VOILA_REQUEST_URL": "http://h/voila/render/a.ipynb"})
    True
    >>> is_dashboard_request({"VOILA_REQUEST_URL": "x", "QUERY_STRING": FRESH_QUERY})
    False
    >>> is_dashboard_request({}), is_dashboard_request(None)
    (False, False)
    """
    if not env or "VOILA_REQUEST_URL" not in env:
        return False
    return FRESH_QUERY not in env.get("QUERY_STRING", "").split("&")


class WarmKernelManager(AsyncMappingKernelManager):
    """A person's server's kernel manager with a pool of warm kernels for dashboard visits
    (see the module's description)."""

    pool_size = Int(1, config=True, help="Warm kernels kept ready for dashboard visits.")
    warm_imports = List(Unicode(), default_value=list(WARM_IMPORTS), config=True,
                        help="Modules a warm kernel imports before any request.")
    warm_timeout = Float(180.0, config=True, help="Seconds a kernel may take to warm up.")
    fill_delay = Float(1.0, config=True,
                       help="Seconds after a visit took a warm kernel before the next one "
                            "starts (the visit runs first).")
    warm_kernel_name = Unicode("python3", config=True,
                               help="The kernel (spec name) the pool keeps warm.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._warm: list[asyncio.Task[tuple[str, dict[str, str]]]] = []
        if self.pool_size > 0:
            IOLoop.current().add_callback(self._fill, 0.0)

    async def _fill(self, delay: float) -> None:
        """Start warm kernels until the pool is full."""
        if delay:
            await asyncio.sleep(delay)
        while len(self._warm) < self.pool_size:
            self._warm.append(asyncio.ensure_future(self._start_warm()))

    async def _start_warm(self) -> tuple[str, dict[str, str]]:
        """A started kernel that has run the warm imports, and the environment it started with."""
        env = dict(os.environ)
        kernel_id = await super().start_kernel(kernel_name=self.warm_kernel_name, path=ApiPath(""),
                                               env=env)
        try:
            await self._run_silently(kernel_id, get_warm_code(self.warm_imports), starting=True)
        except BaseException:
            await self.shutdown_kernel(kernel_id, now=True)
            raise
        self.log.info("genomlab: warm kernel %s ready for dashboards", kernel_id)
        return kernel_id, env

    async def _run_silently(self, kernel_id: str, code: str, *, starting: bool = False) -> None:
        """Run ``code`` in the kernel (silent: no output, no history) and wait for its reply;
        ``starting``: wait until the new kernel answers first."""
        client: Any = self.get_kernel(kernel_id).client()  # an AsyncKernelClient here
        client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        try:
            if starting:
                await client.wait_for_ready(timeout=self.warm_timeout)
            msg_id = client.execute(code, silent=True, store_history=False)
            deadline = asyncio.get_running_loop().time() + self.warm_timeout
            while True:
                left = deadline - asyncio.get_running_loop().time()
                reply = await client.get_shell_msg(timeout=max(left, 0.1))
                if reply["parent_header"].get("msg_id") != msg_id:
                    continue
                if reply["content"]["status"] != "ok":
                    raise RuntimeError(f"kernel {kernel_id}: {reply['content'].get('ename')}: "
                                       f"{reply['content'].get('evalue')}")
                return
        finally:
            client.stop_channels()

    async def _take_warm(self, path: str | None, env: dict[str, str]) -> str | None:
        """A warm kernel bound to this request, or ``None`` (none ready, or it failed)."""
        started = time.perf_counter()
        for _ in range(len(self._warm)):  # each warm kernel there now, at most once
            task = self._warm.pop(0)
            IOLoop.current().add_callback(self._fill, self.fill_delay)
            try:
                kernel_id, started_env = await task
            except Exception as exc:  # a failed warm-up: the visit gets a fresh kernel
                self.log.warning("genomlab: warm kernel failed: %s", exc)
                continue
            if kernel_id not in self:  # shut down meanwhile (e.g. from JupyterLab)
                continue
            cwd = self.cwd_for_path(path or "", env=env)
            try:
                await self._run_silently(kernel_id, get_bind_code(started_env, env, cwd))
            except Exception as exc:
                self.log.error("genomlab: binding warm kernel %s failed: %s", kernel_id, exc)
                await self.shutdown_kernel(kernel_id, now=True)
                continue
            self.log.info("genomlab: dashboard visit uses warm kernel %s (bound in %.2f s)",
                          kernel_id, time.perf_counter() - started)
            return kernel_id
        return None

    async def start_kernel(  # type: ignore[override]
        self, *, kernel_id: str | None = None, path: str | None = None, **kwargs: Any
    ) -> str:
        """A warm kernel for a dashboard visit (see :func:`is_dashboard_request`), else a fresh
        kernel as the server's own kernel manager starts it."""
        env = kwargs.get("env")
        name = kwargs.get("kernel_name") or self.default_kernel_name
        if (kernel_id is None and self.pool_size > 0 and name == self.warm_kernel_name
                and env is not None and is_dashboard_request(env)):
            warm = await self._take_warm(path, env)
            if warm is not None:
                return warm
        return await super().start_kernel(
            kernel_id=kernel_id, path=None if path is None else ApiPath(path), **kwargs)
