"""The nodes BfArM's project page lists, seeded into the registry, and their table for dashboards.

``bfarm_nodes.json`` (shipped in this package) holds the list with its source note (URL, date,
how it was compiled, which entries are missing). A node whose id BfArM has not published gets a
placeholder id ``UNPUB-<KIND>-<short name>`` that cannot be taken for a real one
(:data:`genomlab.platform.nodes.PLACEHOLDER_ID`); its ``public_id`` stays null.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> added = seed_nodes(config, actor="bfarm")
>>> frame = get_registered_nodes_frame(config)
>>> frame.filter(frame["node_id"] == "UNPUB-KDK-NNGM")["public_id"].to_list()
[None]
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from genomlab.config import GenomlabConfig
from genomlab.platform.nodes import NodeRegistry, get_node_kind

SEED_FILE = "bfarm_nodes.json"


@cache
def _load() -> dict[str, Any]:
    text = resources.files("genomlab.platform").joinpath(SEED_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    for entry in data["nodes"]:
        registry_id = entry["public_id"] or entry["placeholder_id"]
        if get_node_kind(registry_id) != entry["kind"]:
            raise ValueError(f"{SEED_FILE}: node {entry['name']!r}: field kind does not fit "
                             f"{registry_id}")
    return data


def get_seed_source() -> dict[str, Any]:
    """The list's source note: ``url``, ``as_of``, ``listed``, ``missing``, ``how_compiled``."""
    return dict(_load()["source"])


def get_seed_nodes() -> list[dict[str, Any]]:
    """The listed nodes, each with ``registry_id`` (the public id or the placeholder)."""
    return [{**entry, "registry_id": entry["public_id"] or entry["placeholder_id"]}
            for entry in _load()["nodes"]]


def seed_nodes(config: GenomlabConfig, *, actor: str) -> list[str]:
    """Register and approve every listed node not yet registered; return the ids added.

    A node already in the registry keeps its name and status (a suspension is not undone).
    """
    registry = NodeRegistry(config)
    present = {row["node_id"] for row in registry.list_nodes()}
    source = get_seed_source()
    added = []
    for entry in get_seed_nodes():
        node_id = entry["registry_id"]
        if node_id in present:
            continue
        registry.apply(node_id, name=entry["name"], actor=actor)
        registry.approve(node_id, actor=actor,
                         reason=f"listed on {source['url']} as of {source['as_of']}")
        added.append(node_id)
    return added


def get_registered_nodes_frame(config: GenomlabConfig) -> pl.DataFrame:
    """Registered nodes for the platform dashboard: ``node_id``, ``kind``, ``name``, ``status``,
    ``public_id`` (null where BfArM published none) and ``listed_by_bfarm`` (in the seed list)."""
    seeded = {entry["registry_id"]: entry for entry in get_seed_nodes()}
    rows = [{"node_id": row["node_id"], "kind": row["kind"], "name": row["name"],
             "status": row["status"],
             "public_id": (seeded[row["node_id"]]["public_id"] if row["node_id"] in seeded
                           else None if row["node_id"].startswith("UNPUB-") else row["node_id"]),
             "listed_by_bfarm": row["node_id"] in seeded}
            for row in NodeRegistry(config).list_nodes()]
    return pl.DataFrame(rows, schema={"node_id": pl.String, "kind": pl.String,
                                      "name": pl.String, "status": pl.String,
                                      "public_id": pl.String, "listed_by_bfarm": pl.Boolean})
