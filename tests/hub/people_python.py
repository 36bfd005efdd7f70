"""A Python every test account may run, over the same packages as the test's environment.

On this machine the venv's interpreter is a symlink into ``/root/.pyenv`` (``/root`` is 0700),
so no other account can start it. A real deployment installs genomlab into an environment all
people's accounts can read (``docs/deployment.md``); the tests build one: a copy of the
interpreter and its standard library in a world-readable folder, and a venv-shaped folder whose
``site-packages``, ``etc`` and ``share`` are links to the test environment's own (nothing is
installed, nothing downloaded).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

SKIPPED = shutil.ignore_patterns(
    "site-packages",
    "test",
    "config-3.*",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
)


def make_people_python(root: Path) -> Path:
    """A world-readable interpreter whose packages are this environment's; returns its path."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    runtime, venv = root / "runtime", root / "venv"
    (runtime / "bin").mkdir(parents=True)
    (runtime / "lib").mkdir()
    shutil.copy2(base / "bin" / version, runtime / "bin" / version)
    for library in (base / "lib").glob("libpython3*.so*"):
        shutil.copy2(library, runtime / "lib" / library.name, follow_symlinks=False)
    shutil.copytree(base / "lib" / version, runtime / "lib" / version, ignore=SKIPPED)
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / version).mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(
        f"home = {runtime / 'bin'}\ninclude-system-site-packages = false\n"
        f"version = {sys.version.split()[0]}\n"
    )
    os.symlink(runtime / "bin" / version, venv / "bin" / version)
    os.symlink(version, venv / "bin" / "python3")
    os.symlink(version, venv / "bin" / "python")
    os.symlink(sysconfig.get_paths()["purelib"], venv / "lib" / version / "site-packages")
    for shared in ("etc", "share"):
        if (Path(sys.prefix) / shared).exists():
            os.symlink(Path(sys.prefix) / shared, venv / shared)
    for folder in (root, *root.rglob("*")):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)
    return venv / "bin" / "python3"


def get_people_python_environment(python: Path) -> dict[str, str]:
    """What the copied interpreter needs: its own ``libpython`` (its RUNPATH names /root)."""
    return {"LD_LIBRARY_PATH": str(python.parents[2] / "runtime" / "lib")}
