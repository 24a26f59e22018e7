"""A process hosting a MigrationService with a journal (killed with SIGKILL by the tests).

Usage: ``python supervisor_host.py DATA_DIR TOPOLOGY_JSON [PLAN_JSON]``. With a plan it
plans and executes it; without, it resumes what the journal holds. It exits 0 once every
migration is terminal, printing ``{"migration_id": state, ...}`` as its last line.
"""

from __future__ import annotations

import json
import sys

import anyio

from edge_actors.edge import EdgeEndpoint, HttpEdgeGateway, Topology
from edge_actors.migration import MigrationService, ServiceDefaults


async def main(data_dir: str, topology_json: str, plan_json: str | None) -> None:
    edges = json.loads(topology_json)
    topology = Topology({n: EdgeEndpoint(e["url"], e["token"]) for n, e in edges.items()})
    defaults = ServiceDefaults(checkpoint_interval_s=0.2, sync_batch_size=100)
    async with (
        HttpEdgeGateway(topology) as gateway,
        MigrationService(gateway, data_dir, defaults=defaults) as service,
    ):
        if plan_json is not None:
            plan = await service.plan(json.loads(plan_json))
            await service.execute(plan.migration_id)
            print(json.dumps({"planned": plan.migration_id}), flush=True)
        while True:
            statuses = await service.statuses()
            if all(
                s.state in ("completed", "failed", "rolled_back", "cancelled") for s in statuses
            ):
                print(json.dumps({s.migration_id: s.state for s in statuses}), flush=True)
                return
            await anyio.sleep(0.1)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
