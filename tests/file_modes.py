"""What under a folder is open to other local accounts (group or others have any permission)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def list_open_to_others(root: Path) -> list[str]:
    """``"<mode> <path>"`` of every file and folder under ``root`` (itself too) with a group or
    other permission bit; links are not followed."""
    found = []
    for folder, dirs, files in os.walk(root):
        for path in [Path(folder), *(Path(folder, n) for n in dirs + files)]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{stat.S_IMODE(mode):o} {path.relative_to(root.parent)}")
    return sorted(set(found))
