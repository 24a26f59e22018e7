"""An interrupted cutover must never end with no copy accepting writes.

The benchmark's ``wide0086`` case, with real daemons on loopback: the cutover's
activation on the target stalls past the deadline; the source's undo (target back to
``incoming``, same epoch) stalls too, so the source keeps ``retiring_to``; the late
activation lands; the run finishes the interrupted handover (source ``moved``); then the
stale undo lands on the target. Before the fix the target ended ``incoming`` behind a
``moved`` source and the run never converged. Now the run takes a new epoch and
reactivates the target at it before flipping the source, so the target's fence refuses the
stale undo, and a source ``moved`` to an ``incoming`` target is repaired (second test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from aiohttp import web

from edge_actors.edge import (
    AdminClient,
    EdgeHTTPError,
)

from .conftest import TOKEN, lost_writes, migrating, run_daemon, seed, writing

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from edge_actors.edge import EdgeDaemon, WorkloadInfo

pytestmark = pytest.mark.anyio

W = "orders"


class Choreography:
    """Orders the stalled calls of the scenario on the two real daemons.

    The target's first activation waits until the source's undo has reached the target
    (so it lands after the source gave up on it); the undo is held back (its request read
    while the source still waits, then delivered again, unchanged, once the run has
    flipped the source to ``moved``): the late, stale undo of the defect. Unfenced, it
    is delivered without an epoch, which the target admits: the source is then ``moved``
    to an ``incoming`` target and the run has to repair that.
    """

    def __init__(self, *, fenced: bool) -> None:
        self.fenced = fenced  # False: the late set-incoming carries no epoch at all
        self.undo_arrived = anyio.Event()  # the source's undo reached the target
        self.activated = anyio.Event()  # the stalled activation acted on the target
        self.source_moved = anyio.Event()  # the run flipped the source to moved
        self.undo_landed = anyio.Event()  # the stale undo was delivered to the target
        self.undo_answer: int | None = None  # the target's HTTP status for the stale undo
        self.west: EdgeDaemon | None = None
        self.east: EdgeDaemon | None = None

    async def _late_undo(self, body: bytes) -> None:
        assert self.east is not None
        await self.source_moved.wait()
        epoch = msgspec.json.decode(body, type=dict[str, object])["epoch"]
        assert isinstance(epoch, int)
        if not self.fenced:
            epoch = None  # an unfenced command: admitted, so only the repair can help
        async with AdminClient(self.east.url, TOKEN) as admin:
            try:
                await admin.set_status(W, "incoming", epoch=epoch)
                self.undo_answer = 200
            except EdgeHTTPError as exc:
                self.undo_answer = exc.status
        self.undo_landed.set()

    def target(self, app: web.Application) -> None:
        @web.middleware
        async def stall(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            path = request.path
            if (
                request.method == "PUT"
                and path.endswith(f"/{W}/status")
                and not self.undo_arrived.is_set()
            ):
                body = await request.read()
                self.undo_arrived.set()
                await self._late_undo(body)
                return web.Response(status=503, text="the undo was delivered late (test)")
            get = request.method == "GET" and path.endswith(f"/workloads/{W}")
            if get and self.undo_arrived.is_set():
                await self.activated.wait()  # the run reads the late activation
            return await handler(request)

        app.middlewares.append(stall)

    def source(self, app: web.Application) -> None:
        @web.middleware
        async def watch(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            response = await handler(request)
            assert self.west is not None
            route = self.west.router.route_of(W)
            if (
                request.method == "PUT"
                and request.path.endswith(f"/{W}/status")
                and route is not None
                and route.status == "moved"
                and not self.source_moved.is_set()
            ):
                self.source_moved.set()
                await self.undo_landed.wait()  # the run goes on once the stale undo landed
            return response

        app.middlewares.append(watch)

    def stall_first_activation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert self.east is not None
        real_activate = self.east.router.activate

        async def late(
            name: str, min_lsn: int, digest: str | None, epoch: int | None = None, **delta: Any
        ) -> WorkloadInfo:
            if not self.activated.is_set():
                await self.undo_arrived.wait()  # acts after the source gave up on it
                # It acts as one that made itself durable in time and whose answer was
                # lost would: without the time the source gave it (which it would now
                # refuse as too late, as it should), and its answer never reaches the
                # source (which would otherwise flip on it: the late answer races the
                # undo call).
                delta.pop("within_s", None)
                await real_activate(name, min_lsn, digest, epoch, **delta)
                self.activated.set()
                raise ConnectionResetError("the activation's answer was lost (test)")
            return await real_activate(name, min_lsn, digest, epoch, **delta)

        assert self.east is not None
        monkeypatch.setattr(self.east.router, "activate", late)


async def _states(daemon: EdgeDaemon) -> tuple[str, str | None]:
    async with AdminClient(daemon.url, TOKEN) as admin:
        info = await admin.workload(W)
    return info.status, info.retiring_to


@pytest.mark.parametrize("fenced", [True, False], ids=["stale_undo", "unfenced_undo"])
async def test_a_late_undo_after_the_finished_handover_leaves_one_active_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fenced: bool
) -> None:
    """Fenced: the stale undo is refused (409). Unfenced: it lands (the target goes
    ``incoming`` behind a ``moved`` source), the run's convergence check refuses to end
    and its retry repairs it by activating the target at a new epoch."""
    steps = Choreography(fenced=fenced)
    async with (
        run_daemon(tmp_path, "edge-west", extra_routes=steps.source) as west,
        run_daemon(tmp_path, "edge-east", extra_routes=steps.target) as east,
    ):
        steps.west, steps.east = west, east
        steps.stall_first_activation(monkeypatch)
        async with migrating(tmp_path, west, east) as (_, service):
            async with AdminClient(west.url, TOKEN) as admin:
                await admin.create_workload(W)
            await seed(west.url, W, 500)
            async with writing(west.url, W) as writer:
                await writer.wait_for_writes(20)
                plan = await service.plan(
                    {
                        "source_edge": "edge-west",
                        "target_edge": "edge-east",
                        "workloads": [W],
                        "constraints": {"max_downtime": "200ms"},
                    }
                )
                status = await service.execute(plan.migration_id, wait=True, timeout=30)
                await writer.wait_for_writes(20)  # it keeps writing, now against the target
            assert steps.activated.is_set()
            assert steps.source_moved.is_set()
            assert steps.undo_answer == (409 if fenced else 200)
            assert status.state == "completed", status
            # Exactly one copy accepts writes: the target; the source redirects there.
            assert await _states(east) == ("active", None)
            assert await _states(west) == ("moved", None)
            if fenced:
                assert writer.failures == []
            # Unfenced, writes are refused while no copy accepts them (never acknowledged).
            assert await lost_writes(east.url, W, writer.acked) == []
