"""Synthetic genomDE worlds for tests and demos: nothing here is real patient data.

:func:`generate_world` writes a seeded, complete world (genotypes of several ancestries with
LD and Mendelian trios, planted associations and QC faults, GRZ submissions, KDK records,
trust-centre inputs) and a ``truth.json`` that tests score against; :func:`load_truth` reads it.
"""

from genomlab.samples.world import WorldSummary, generate_world, load_truth

__all__ = ["WorldSummary", "generate_world", "load_truth"]
