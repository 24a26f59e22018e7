"""Helpers of the transfer tests: the minimal peer edge, spec and data builders.

``PeerEdge`` is the target edge of a test: its ``/peer/stream`` route checks the bearer
token and hands the WebSocket to ``serve_peer_stream`` with real ``StoreRegistry``
stores; it can drop a stream once after N applied chunks to exercise resume.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from aiohttp import web

from edge_actors.store import StoreRegistry, WorkloadNotFound, WorkloadStore, new_snapshot_path
from edge_actors.transfer import TransferSpec, peer_ws_max_msg_size, serve_peer_stream
from edge_actors.wire import DEFAULT_LIMITS, WireLimits

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from pathlib import Path

    from edge_actors.store import SnapshotInfo
    from edge_actors.wire import Change

TOKEN = "s3cret-token-0123456789abcdefghij"


class IncomingCopy:
    """A store a test stream writes to as the daemon's peer API does for an ``incoming``
    copy (its applies may fill an empty store in bulk; a snapshot stream's file is
    installed as its store)."""

    def __init__(self, registry: StoreRegistry, workload: str) -> None:
        self.registry = registry
        self.workload = workload
        self.store = registry.get(workload)

    @property
    def lsn(self) -> int:
        return self.store.lsn

    async def apply_changes(self, changes: Sequence[Change]) -> int:
        return await self.store.apply_changes(changes, bulk=True)

    async def end_bulk_apply(self) -> None:
        await self.store.end_bulk_apply()

    def snapshot_path(self) -> Path:
        return new_snapshot_path(self.registry.path_of(self.workload), "in")

    async def install_snapshot(self, source: Path, snapshot: SnapshotInfo) -> int:
        self.store = await self.registry.install_snapshot(self.workload, source, snapshot)
        return self.store.lsn


class PeerEdge:
    """The target edge of a test."""

    def __init__(self, registry: StoreRegistry, limits: WireLimits = DEFAULT_LIMITS) -> None:
        self.registry = registry
        self.limits = limits
        self.url = ""
        self.applied_chunks = 0
        self.applied_records = 0
        self.chunk_records: list[int] = []  # records of each applied chunk, in order
        self.streams = 0
        self.streams_ended = 0  # handlers returned: nothing more is applied from them
        self.drop_after: int | None = None  # drop the next stream after this many chunks
        self._drop = anyio.Event()

    async def resolve(self, workload: str, migration_id: str) -> IncomingCopy:
        if workload.startswith("refused"):
            raise WorkloadNotFound(f"workload {workload!r} is not incoming here")
        if workload not in self.registry:
            await self.registry.create(workload)
        return IncomingCopy(self.registry, workload)

    def on_applied(self, workload: str, records: int, raw_bytes: int) -> None:
        self.applied_chunks += 1
        self.applied_records += records
        self.chunk_records.append(records)
        if self.drop_after is not None:
            self.drop_after -= 1
            if self.drop_after <= 0:
                self.drop_after = None
                self._drop.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized(text="bad or missing cluster token")
        ws = web.WebSocketResponse(max_msg_size=peer_ws_max_msg_size(self.limits))
        await ws.prepare(request)
        self.streams += 1
        self._drop = anyio.Event()
        drop = self._drop
        try:
            async with anyio.create_task_group() as tg:

                async def dropper() -> None:
                    await drop.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(dropper)
                await serve_peer_stream(
                    ws, resolve_store=self.resolve, limits=self.limits, on_applied=self.on_applied
                )
                tg.cancel_scope.cancel()
            if not ws.closed:
                await ws.close()
        finally:
            self.streams_ended += 1
        return ws


@asynccontextmanager
async def serving(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """Serve ``handle`` as ``/peer/stream`` on a loopback port; yield the base URL."""
    app = web.Application()
    app.router.add_get("/peer/stream", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def make_spec(peer: PeerEdge, workload: str = "app", **kw: object) -> TransferSpec:
    fields: dict[str, object] = {
        "transfer_id": "t-1",
        "migration_id": "m-1",
        "workload": workload,
        "target_name": "edge-b",
        "target_url": peer.url,
        "target_token": TOKEN,
        "retry_backoff_s": 0.05,
    }
    fields.update(kw)
    return TransferSpec(**fields)  # type: ignore[arg-type]


async def fill(store: WorkloadStore, n: int, *, value_bytes: int = 100, prefix: str = "k") -> None:
    """Write ``n`` records in batches of 500."""
    for start in range(0, n, 500):
        ops: list[tuple[str, bytes | None]] = [
            (f"{prefix}{i:06d}", (f"{i:06d}".encode() * (value_bytes // 6 + 1))[:value_bytes])
            for i in range(start, min(n, start + 500))
        ]
        await store.write_batch(ops)
