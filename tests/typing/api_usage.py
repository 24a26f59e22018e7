"""The public API as a user types it: checked by mypy --strict in test_typing.py.

Nothing here runs under pytest; it only has to type-check, so a signature change that
would break users' type checking fails the suite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from edge_actors import ConfigError, EdgeActorsError
from edge_actors.actors import Actor, ActorRef, ActorSystem, Backoff, SupervisorRef, Terminated
from edge_actors.edge import AdminClient, EdgeClient, EdgeConfig, EdgeDaemon, WorkloadInfo
from edge_actors.store import StoreStats, WorkloadStore
from edge_actors.units import parse_bandwidth_bps, parse_duration, parse_size
from edge_actors.wire import Change, ChunkCodec, decode_frame, encode_frame

if TYPE_CHECKING:
    from pathlib import Path


class Add(msgspec.Struct):
    n: int


class Counter(Actor[Add]):
    def __init__(self) -> None:
        self.total = 0

    async def receive(self, message: Add) -> int:
        self.total += message.n
        return self.total


async def actors_usage() -> int:
    async with ActorSystem(name="typed") as system:
        ref: ActorRef[Add] = await system.spawn(Counter, name="counter", mailbox_size=10)
        await ref.tell(Add(1))
        ref.tell_nowait(Add(2))
        total: int = await ref.ask(Add(3), timeout=1.0)
        sup: SupervisorRef = await system.spawn_supervisor(
            strategy="one_for_one", max_restarts=3, within_s=5.0, backoff=Backoff()
        )
        child: ActorRef[Add] = await sup.spawn_child(Counter, restart="transient")
        await system.stop(child)
        notice = Terminated(ref_name="counter", reason="normal")
        return total + len(notice.ref_name)


async def data_plane_usage(path: Path) -> StoreStats:
    async with await WorkloadStore.open(path, "orders", create=True) as store:
        lsn: int = await store.put("k", b"v")
        changes: list[Change] = await store.scan_changes(0, lsn, limit=100)
        codec = ChunkCodec(compression=True, level=3)
        chunk = codec.encode_chunk(migration_id="m", workload="orders", seq=0, changes=changes)
        assert decode_frame(encode_frame(chunk)) == chunk
        return await store.stats()


async def edge_usage(data_dir: str) -> WorkloadInfo:
    config = EdgeConfig(name="edge-a", data_dir=data_dir, cluster_token="t-0123456789abcdefghij-t")
    async with EdgeDaemon(config) as daemon:
        async with AdminClient(daemon.url, daemon.token) as admin:
            await admin.create_workload("orders", "active")
        async with EdgeClient(daemon.url, token=daemon.token) as client:
            await client.put("orders", "k", b"v")
            value: bytes | None = await client.get("orders", "k")
            assert value == b"v"
            return await client.info("orders")


def units_usage() -> float:
    try:
        return parse_duration("30s") + parse_size("1MB") + parse_bandwidth_bps("50mbps")
    except ConfigError as exc:
        raise EdgeActorsError(str(exc)) from exc
