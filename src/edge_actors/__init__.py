"""edge_actors: live migration of stateful workloads between edge nodes, on asyncio actors.

Layering (imports point down this list only; see docs/architecture.md):

    errors, units, _log   shared leaves
    actors                generic actor engine (mailboxes, supervisors, watch)
    wire                  msgspec frames, framing, zstd codec
    store                 SQLite workload record stores (LSN change log, digests)
    transfer              sender / receiver actors, link rate limiter
    migration             plans, strategies, migration actors, the migration supervisor
    edge                  the daemon (aiohttp), clients, routing, topology
    monitoring            health probes, metric series, analytics, alerts
    workflow, runtime     the guide's WorkflowBuilder / LocalRuntime API
    cli                   the ``edge-actors`` command
"""

from __future__ import annotations

from edge_actors.errors import ConfigError as ConfigError
from edge_actors.errors import EdgeActorsError as EdgeActorsError

__version__ = "0.1.0"

__all__ = ["ConfigError", "EdgeActorsError", "__version__"]
