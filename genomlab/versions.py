"""Installed versions of distributions, for the provenance records of releases and QC runs."""

from __future__ import annotations

from importlib import metadata


def get_installed_versions(names: tuple[str, ...], *,
                           missing: str = "unknown") -> dict[str, str]:
    """Version of each distribution in ``names``; ``missing`` where it is not installed.

    Examples
    --------
    >>> get_installed_versions(("numpy", "no-such-distribution"))["no-such-distribution"]
    'unknown'
    """
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = missing
    return versions
