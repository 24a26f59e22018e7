"""An ``incoming`` copy's store is kept warm: its activation runs inside a cutover's hold.

In the wide-plan benchmark (100 workloads) 20 of 106 activations on the target found
their store's write connection closed (the descriptor budget's ``max_idle``, least
recently used first, while the writer kept the 100 active stores busy) and reopened it
inside the hold, at up to 47 ms of a 50 ms budget. The router marks the store of every
``incoming`` route warm (:meth:`WorkloadStore.keep_warm`), which the budget closes last;
the mark goes with the route. Real daemons on loopback; the eviction order itself is
tested with real stores in ``tests/store/test_store_scale.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from stalls import cutover_request

if TYPE_CHECKING:
    from conftest import Pair, StartDaemon  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio


def _warm(daemon: EdgeDaemon, name: str) -> bool:
    return daemon.router.registry.get(name)._writer.warm


async def test_the_store_is_warm_while_incoming_and_not_once_active(pair: Pair) -> None:
    await pair.admin_west.create_workload("orders")
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(20)])
    await pair.admin_east.create_workload("orders", "incoming")
    assert _warm(pair.east, "orders")
    assert not _warm(pair.west, "orders")  # an active workload is not

    answer = await pair.admin_west.cutover("orders", cutover_request(pair.east))
    assert answer.target_lsn == 20
    assert (await pair.admin_east.workload("orders")).status == "active"
    assert not _warm(pair.east, "orders")

    # A route set back to incoming (a rollback's undo) is warm again.
    await pair.admin_east.set_status("orders", "incoming")
    assert _warm(pair.east, "orders")


async def test_an_incoming_route_found_at_start_is_warm(start_daemon: StartDaemon) -> None:
    async with start_daemon("edge-east") as east:
        await east.router.create("orders", "incoming")
        await east.router.create("served", "active")
    async with start_daemon("edge-east") as east:  # the same data directory
        assert _warm(east, "orders")
        assert not _warm(east, "served")
