"""edge_actors: live migration of stateful workloads between edge nodes, on asyncio actors.

Layering (imports point down this list only; see docs/architecture.md):

    errors, units, schema shared leaves, with clock and _log (schema: the input types
                          and the one ``convert`` every boundary uses)
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

from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError as ConfigError
from edge_actors.errors import EdgeActorsError as EdgeActorsError

if TYPE_CHECKING:
    from edge_actors._seed import seed_workload as seed_workload
    from edge_actors._seed import seed_workload_async as seed_workload_async

__version__ = "0.1.0"

__all__ = ["ConfigError", "EdgeActorsError", "__version__", "seed_workload", "seed_workload_async"]

# ``seed_workload`` lives at the top of the layer order (it starts edges on the engine);
# it is imported on first access so ``import edge_actors`` stays light and acyclic.
_LAZY = frozenset(("seed_workload", "seed_workload_async"))


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from edge_actors import _seed

        return getattr(_seed, name)
    raise AttributeError(f"module 'edge_actors' has no attribute {name!r}")
