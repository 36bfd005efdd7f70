"""Synthetic genomDE worlds for tests and demos: nothing here is real patient data.

:func:`generate_world` writes a seeded, complete world (genotypes of several ancestries with
LD and Mendelian trios, planted associations and QC faults, GRZ submissions, KDK records,
trust-centre inputs) and a ``truth.json`` that tests score against; :func:`load_truth` reads it.

The names are imported on first use (PEP 562): the generator pulls in scipy, and every
``genomlab`` command (which registers ``genomlab samples``) would otherwise pay ~2 s for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genomlab.samples.world import WorldSummary, generate_world, load_truth

__all__ = ["WorldSummary", "generate_world", "load_truth"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from genomlab.samples import world

        return getattr(world, name)
    raise AttributeError(f"module 'genomlab.samples' has no attribute {name!r}")
