"""Property: any sequence of writes and deletes on the source copies to an equal digest."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transfer_peer import PeerEdge, make_spec

from edge_actors.store import StoreRegistry
from edge_actors.transfer import run_transfer

_ops = st.lists(
    st.tuples(
        st.sampled_from([f"key-{i}" for i in range(40)] + ["ü-ключ", "a/b", "x" * 200]),
        st.one_of(st.none(), st.binary(max_size=300)),
    ),
    min_size=1,
    max_size=120,
)


async def _copy(ops: list[tuple[str, bytes | None]], batch_size: int, split: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = await StoreRegistry.open(Path(tmp) / "source")
        target = await StoreRegistry.open(Path(tmp) / "target")
        peer = PeerEdge(target)
        app = web.Application()
        app.router.add_get("/peer/stream", peer.handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            peer.url = f"http://{host}:{port}"
            src = await source.create("app")
            await src.write_batch(ops[:split])
            first = await run_transfer(make_spec(peer, batch_size=batch_size), src)
            await src.write_batch(ops[split:])
            await run_transfer(
                make_spec(peer, transfer_id="t-2", from_lsn=first.acked_lsn, batch_size=batch_size),
                src,
            )
            assert (await target.get("app").stats()) == (await src.stats())
            assert await target.get("app").compute_digest() == (await src.stats()).digest
        finally:
            await runner.cleanup()
            await source.close()
            await target.close()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, batch_size=st.integers(1, 30), split=st.integers(0, 120))
def test_random_writes_copy_to_equal_digests(
    ops: list[tuple[str, bytes | None]], batch_size: int, split: int
) -> None:
    anyio.run(_copy, ops, batch_size, split)
