"""Is a node approved by the platform *now*? The one check every door asks before it acts.

BfArM approves and supervises the genome data centres (GRZ), clinical data nodes (KDK) and data
services (§ 64e (9) sentence 4 no. 1, (10a), (10b) SGB V; bfarm.de: "Klinische Datenknoten,
Genomrechenzentren und Datendienste werden vom Plattformträger zugelassen und kontrolliert").
A suspended or revoked node may not take in data, exchange a case number, get a token or
release data. Each door calls :func:`check_node_approved` first, before anything is recorded
or stored, so a refusal leaves every store and ledger as it was (and a case number unused):

- intake at a GRZ and a KDK (:meth:`genomlab.node_intake.NodeIntake.check_node_approved`);
- the trust centre's case-number exchange (``TrustCenter.exchange_case_number``);
- the data service's release (:func:`genomlab.data_service.release.release_application`);
- token issuance (:func:`genomlab.platform.oauth_clients.require_usable_client`, the platform's
  own check on its own store).

The answer comes from the platform's records: a :class:`NodeStatusSource` is anything with the
platform's status look-up ``get_node_status(node_id)``: in one process the platform store
(:func:`get_platform_node_status`, over
:func:`genomlab.platform.oauth_clients.get_node_status`, the function behind the platform
service's ``GET /api/nodes/{id}/status``), between services
:class:`genomlab.clients.platform.PlatformStatusClient`.

This module is neutral (like :mod:`genomlab.node_intake`): it imports the platform only when
the in-process source is asked for.

Examples
--------
>>> class Registry:
...     def get_node_status(self, node_id):
...         return {"node_id": node_id, "kind": "grz", "status": "suspended"}
>>> can_node_act(Registry().get_node_status("GRZK00001"))
False
>>> try:
...     check_node_approved(Registry(), "GRZK00001", door="GRZ intake")
... except NodeNotApproved as exc:
...     print(exc)
GRZ intake: node GRZK00001 is suspended, not approved by the platform; refused
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from genomlab.errors import NotFoundError, PermissionDenied

if TYPE_CHECKING:
    from genomlab.config import GenomlabConfig


class NodeStatusSource(Protocol):
    """The platform's node-status look-up (in-process or the platform service's client)."""

    def get_node_status(self, node_id: str) -> dict[str, Any]:
        """``{node_id, kind, status, approved_at, active_clients}``; NotFoundError if unknown."""
        ...


class NodeNotApproved(PermissionDenied):
    """The node is not registered with the platform, or not approved now (suspended, revoked,
    only applied)."""


def can_node_act(status: Mapping[str, Any]) -> bool:
    """Whether a node with this platform status may act (only ``approved`` may)."""
    return status.get("status") == "approved"


def check_node_approved(source: NodeStatusSource, node_id: str, *, door: str
                        ) -> dict[str, Any]:
    """The node's platform status if it is approved; else :class:`NodeNotApproved`.

    ``door`` names what was refused (``GRZ intake``, ``trust centre case-number exchange``…);
    the message names the node and its status.
    """
    try:
        status = source.get_node_status(node_id)
    except NotFoundError as exc:
        raise NodeNotApproved(f"{door}: node {node_id} is not registered with the platform; "
                              "refused") from exc
    if not can_node_act(status):
        raise NodeNotApproved(f"{door}: node {node_id} is {status.get('status', 'unknown')}, "
                              "not approved by the platform; refused")
    return status


class _PlatformStore:
    """The platform store of one home as a :class:`NodeStatusSource` (read at every call)."""

    def __init__(self, config: GenomlabConfig) -> None:
        self.config = config

    def get_node_status(self, node_id: str) -> dict[str, Any]:
        from genomlab.platform.oauth_clients import get_node_status

        return get_node_status(self.config, node_id)


def get_platform_node_status(config: GenomlabConfig) -> NodeStatusSource:
    """The in-process source: this home's platform store, as the platform service reads it."""
    return _PlatformStore(config)
