"""Races of forwarded held writes with routing changes (review regressions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from aiohttp import web

from edge_actors.edge import AdminClient, EdgeClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_refused_forward_after_route_went_back_active_is_not_acked_unapplied(
    daemon: EdgeDaemon,
) -> None:
    """The target refuses the forward while the source's route is set back to active:
    the write must not be acknowledged without being applied anywhere."""

    async def refuse(request: web.Request) -> web.Response:
        # Meanwhile the operator (or a rollback) makes the source serve it again.
        await daemon.router.set_route("orders", "active", None)
        return web.json_response({"error": "store_closed", "message": "x"}, status=503)

    app = web.Application()
    app.router.add_post("/v1/workloads/{w}/batch", refuse)
    async with (
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("orders")
        gen = _serve(app)
        target = await gen.__anext__()
        try:
            await admin.hold("orders")
            acked: list[int] = []
            async with anyio.create_task_group() as tg:

                async def put() -> None:
                    acked.append(await client.put("orders", "k", b"v"))

                tg.start_soon(put)
                with anyio.fail_after(10):
                    while daemon.router.gate("orders").queued < 1:
                        await anyio.sleep(0.005)
                await admin.release("orders", moved_to=target)
        finally:
            await gen.aclose()
        # Acknowledged: so it must be applied, and readable where the workload is served.
        assert len(acked) == 1
        assert acked[0] >= 1
        assert client.edge_for("orders") == daemon.url
        async with EdgeClient(daemon.url, token=TOKEN) as direct:
            assert await direct.get("orders", "k") == b"v"


async def test_hold_waits_for_a_released_write_whose_turn_came(daemon: EdgeDaemon) -> None:
    """A queued write let through by a release counts as in flight from that moment: a
    hold taken before it resumes must wait for it, not answer an LSN it then exceeds."""
    async with (
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as c1,
        EdgeClient(daemon.url, token=TOKEN) as c2,
    ):
        await admin.create_workload("orders")
        store = daemon.registry.get("orders")
        await admin.hold("orders")
        gate = daemon.router.gate("orders")
        first_acked: list[int] = []
        first_done = anyio.Event()

        async def first_put() -> None:
            first_acked.append(await c1.put("orders", "a", b"1"))
            first_done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(first_put)
            with anyio.fail_after(10):
                while gate.queued < 1:
                    await anyio.sleep(0.005)
            tg.start_soon(c2.put, "orders", "b", b"2")
            with anyio.fail_after(10):
                while gate.queued < 2:
                    await anyio.sleep(0.005)
            # Release and hold again in the same loop step (as a lease expiry followed
            # by a migrator's hold can): the first write's turn has come, it has not run.
            await daemon.router.release("orders", None)  # no await inside: same step
            hold_lsn, _ = await daemon.router.hold("orders", None)
            with anyio.fail_after(10):
                await first_done.wait()
            # The hold waited for the first write: its LSN is within the hold's.
            assert first_acked[0] <= hold_lsn
            # Held: the second write still waits in the queue, and nothing was written
            # past the hold LSN.
            assert gate.queued == 1
            assert store.lsn == hold_lsn
            await daemon.router.release("orders", None)
        assert store.lsn == 2


async def test_cancelled_forward_leaves_no_write_waiting_for_ever(daemon: EdgeDaemon) -> None:
    """A forward cancelled mid-send (as at shutdown) settles its batch as not acknowledged,
    so a write queued behind it is sent on, instead of its flush looping for ever."""
    from edge_actors.edge._forwarder import Forwarder

    hang = anyio.Event()
    arrived = anyio.Event()
    seen: list[bytes] = []

    async def batch(request: web.Request) -> web.Response:
        seen.append(await request.read())
        if len(seen) == 1:
            arrived.set()
            await hang.wait()
        return web.json_response({"lsn": 7})

    app = web.Application()
    app.router.add_post("/v1/workloads/{w}/batch", batch)
    async for target in _serve(app):
        forwarder = Forwarder(daemon.forward_session, "orders", daemon.log)
        first = forwarder.enqueue([("a", b"1")])
        async with anyio.create_task_group() as tg:  # cancelled mid-send, as at shutdown

            async def cancel_once_sent() -> None:
                with anyio.fail_after(10):
                    await arrived.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_once_sent)
            await forwarder.flush(first, target)
        assert first.done
        assert first.error is not None
        assert "not acknowledged" in first.error
        second = forwarder.enqueue([("b", b"2")])
        with anyio.fail_after(10):
            await forwarder.flush(second, target)
        assert second.done
        assert second.error is None
        assert second.lsn == 7
        hang.set()
