"""A supervisor that stops while a cutover call is in flight stops promptly.

Found by the fault matrix (``benchmarks/faults.py``, SIGTERM of the supervisor daemon
with the target paused at ``activating``): the run's cutover call is shielded (the source
finishes or undoes it), and the run used to journal its outcome from inside that shield.
The supervisor, stopping, no longer answers asks, so the run's ask waited out its 30 s
timeout and the stop took longer than the daemon's shutdown bound. Now only the edge call
is shielded; the outcome is journaled after it (a stop cancels there, and the next run
learns the cutover from the edges).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import EdgeEndpoint, HttpEdgeGateway, Topology
from edge_actors.edge._test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV
from edge_actors.migration import MigrationService

from .conftest import FAST_RESTART, TOKEN, Edges, run_daemon
from .ledger import make_workload, plan_for, target_info

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

_STOP_BOUND_S = 15.0
"""Far above a prompt stop (about a second), far below the 30 s ask timeout it hit."""


async def test_a_stop_during_the_cutover_call_does_not_wait_for_an_ask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = tmp_path / "go"
    monkeypatch.setenv(PAUSE_AT_ENV, "activating")
    monkeypatch.setenv(PAUSE_FILE_ENV, str(go))
    async with run_daemon(tmp_path, "edge-east") as east:
        monkeypatch.delenv(PAUSE_AT_ENV)
        async with run_daemon(tmp_path, "edge-west") as west:
            topology = Topology(
                {
                    "edge-west": EdgeEndpoint(west.url, TOKEN),
                    "edge-east": EdgeEndpoint(east.url, TOKEN),
                }
            )
            async with HttpEdgeGateway(topology) as gateway:
                edges = Edges(west, east, gateway, topology)
                await make_workload(edges, "svc", 200)
                stack = AsyncExitStack()
                service = await stack.enter_async_context(
                    MigrationService(gateway, tmp_path / "sup", restart=FAST_RESTART)
                )
                plan = await service.plan(plan_for("svc", constraints={"max_downtime": "5s"}))
                await service.execute(plan.migration_id)
                with anyio.fail_after(60):  # the run is inside its cutover call
                    while not await anyio.Path(f"{go}.reached").exists():
                        await anyio.sleep(0.01)
                go.touch()  # the activation goes on while the supervisor stops
                started = anyio.current_time()
                await stack.aclose()
                assert anyio.current_time() - started < _STOP_BOUND_S
                # The cutover itself finished on the edges (the next run records it).
                info = await target_info(edges, "svc")
                assert info.status == "active"
