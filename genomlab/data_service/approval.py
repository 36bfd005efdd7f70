"""The data service as a node of the platform: BfArM approves and supervises it like a GRZ or KDK.

§ 64e (9) SGB V and BfArM ("Klinische Datenknoten, Genomrechenzentren und Datendienste werden
vom Plattformträger zugelassen und kontrolliert", quoted by heise.de, 2024) make a data service
an approved node. In the registry it is a node of kind ``data_service`` (id ``DS…``,
:data:`genomlab.platform.nodes.NODE_ID_PATTERNS`). A data service that is not approved now
(suspended, revoked) releases nothing: :func:`check_data_service_approved` runs before a release
verifies, records or writes anything.

The data service's node id is the one of its platform client
(``data_service/platform-client.json``) where it has one, else :data:`DATA_SERVICE_NODE_ID`.

Examples
--------
>>> import tempfile
>>> from genomlab.config import load_config
>>> from genomlab.platform.nodes import NodeRegistry
>>> config = load_config(environ={"GENOMLAB_HOME": tempfile.mkdtemp()})
>>> register_data_service(config, actor="bfarm")
'DSGENOMLAB'
>>> check_data_service_approved(config)
'DSGENOMLAB'
>>> NodeRegistry(config).suspend("DSGENOMLAB", actor="bfarm", reason="audit finding")
>>> from genomlab.node_approval import NodeNotApproved
>>> try:
...     check_data_service_approved(config)
... except NodeNotApproved as exc:
...     print(exc)
data service release: node DSGENOMLAB is suspended, not approved by the platform; refused
"""

from __future__ import annotations

from genomlab.clients.oauth import get_credentials_path, load_client_credentials
from genomlab.config import GenomlabConfig
from genomlab.institution import Institution
from genomlab.node_approval import NodeStatusSource, check_node_approved, get_platform_node_status

DATA_SERVICE_NODE_ID = "DSGENOMLAB"
"""The registry id of a home's data service when it has no platform client of its own."""


def get_data_service_node_id(config: GenomlabConfig) -> str:
    """The data service's node id: its platform client's, else :data:`DATA_SERVICE_NODE_ID`."""
    path = get_credentials_path(Institution(config, "data_service").directory)
    if path.exists():
        return load_client_credentials(path).node_id
    return DATA_SERVICE_NODE_ID


def register_data_service(config: GenomlabConfig, *, actor: str) -> str:
    """Apply for and approve this home's data service at the platform unless it is registered
    (a suspension or revocation is not undone); return its node id."""
    from genomlab.platform.nodes import NodeRegistry

    node_id = get_data_service_node_id(config)
    NodeRegistry(config).ensure_approved(node_id, name="genomlab data service", actor=actor)
    return node_id


def check_data_service_approved(config: GenomlabConfig,
                                node_status: NodeStatusSource | None = None) -> str:
    """The data service's node id if the platform approves it now; else
    :class:`~genomlab.node_approval.NodeNotApproved` naming the node and its status.

    ``node_status`` is the platform's look-up (default: this home's platform store).
    """
    node_id = get_data_service_node_id(config)
    check_node_approved(node_status or get_platform_node_status(config), node_id,
                        door="data service release")
    return node_id
