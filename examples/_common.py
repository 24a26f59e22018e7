"""Shared set-up for the guide's ports: seed the sample workloads the guide names.

The guide's samples plan migrations of workloads such as ``api-service``; on the embedded
default topology those edges start empty, so each example first seeds the workloads it
names with sample records (a plan for a workload that does not exist fails, as it should).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_actors import seed_workload

if TYPE_CHECKING:
    from collections.abc import Iterable

    from edge_actors.runtime import Engine


def seed(
    edge: str,
    workloads: Iterable[str],
    *,
    records: int = 1000,
    value_bytes: int = 256,
    engine: Engine | None = None,
) -> None:
    """Create each workload on ``edge`` filled with sample records (on ``engine``'s edges,
    by default the process engine's)."""
    for workload in workloads:
        seed_workload(edge, workload, records=records, value_bytes=value_bytes, engine=engine)
