"""The edge layer: the daemon (aiohttp), its clients, routing and write holds, topology.

Imports: leaves, actors, wire, store, transfer, migration (for the gateway). Nothing
here is imported by the layers above it except through this module's public names.
"""

from __future__ import annotations

from ._client import AdminClient as AdminClient
from ._client import EdgeClient as EdgeClient
from ._config import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ._config import EdgeConfig as EdgeConfig
from ._config import load_edge_config as load_edge_config
from ._daemon import EdgeDaemon as EdgeDaemon
from ._errors import AdminUnauthorized as AdminUnauthorized
from ._errors import BadRequest as BadRequest
from ._errors import EdgeCapacityExceeded as EdgeCapacityExceeded
from ._errors import EdgeConflict as EdgeConflict
from ._errors import EdgeError as EdgeError
from ._errors import EdgeHTTPError as EdgeHTTPError
from ._errors import EdgeUnavailable as EdgeUnavailable
from ._errors import PayloadTooLarge as PayloadTooLarge
from ._errors import TooManyRedirects as TooManyRedirects
from ._errors import UnknownEdge as UnknownEdge
from ._errors import WorkloadIncoming as WorkloadIncoming
from ._errors import WorkloadMissing as WorkloadMissing
from ._gateway import HttpEdgeGateway as HttpEdgeGateway
from ._migration_client import MigrationClient as MigrationClient
from ._migration_routes import add_migration_routes as add_migration_routes
from ._models import CapacityInfo as CapacityInfo
from ._models import HealthInfo as HealthInfo
from ._models import HoldAnswer as HoldAnswer
from ._models import LoadInfo as LoadInfo
from ._models import ReleaseAnswer as ReleaseAnswer
from ._models import WorkloadInfo as WorkloadInfo
from ._models import WorkloadStatus as WorkloadStatus
from ._topology import EdgeEndpoint as EdgeEndpoint
from ._topology import Topology as Topology
from ._topology import load_topology as load_topology

__all__ = [
    "DEFAULT_MAX_BYTES",
    "AdminClient",
    "AdminUnauthorized",
    "BadRequest",
    "CapacityInfo",
    "EdgeCapacityExceeded",
    "EdgeClient",
    "EdgeConfig",
    "EdgeConflict",
    "EdgeDaemon",
    "EdgeEndpoint",
    "EdgeError",
    "EdgeHTTPError",
    "EdgeUnavailable",
    "HealthInfo",
    "HoldAnswer",
    "HttpEdgeGateway",
    "LoadInfo",
    "MigrationClient",
    "PayloadTooLarge",
    "ReleaseAnswer",
    "TooManyRedirects",
    "Topology",
    "UnknownEdge",
    "WorkloadIncoming",
    "WorkloadInfo",
    "WorkloadMissing",
    "WorkloadStatus",
    "add_migration_routes",
    "load_edge_config",
    "load_topology",
]
