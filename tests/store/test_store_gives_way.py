"""A background copy's apply gives way inside its chunk (``apply_changes(..., give_way=)``).

Real stores on disk. The pause point is called in the apply's worker thread between
pieces of the work; while it blocks, nothing of the chunk is committed and other stores
apply freely; the content (records, digest) is what an apply without it gives.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.store import WorkloadStore
from edge_actors.wire import Change

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

RECORDS = 1000


def _chunk(seed: int = 3) -> list[Change]:
    rng = random.Random(seed)
    return [Change(lsn=i + 1, key=f"r{i:07d}", value=rng.randbytes(200)) for i in range(RECORDS)]


async def test_a_chunk_calls_its_pause_point_between_pieces_and_applies_the_same(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    with anyio.fail_after(30):
        paused = await WorkloadStore.open(tmp_path / "paused.sqlite", "w", create=True)
        plain = await WorkloadStore.open(tmp_path / "plain.sqlite", "w", create=True)
        try:
            lsn = await paused.apply_changes(
                _chunk(),
                bulk=True,
                give_way=lambda: calls.append(threading.current_thread().name),
            )
            assert lsn == RECORDS
            assert await plain.apply_changes(_chunk(), bulk=True) == RECORDS
            # After validation, between the insert statements (1,000 rows: ten of them),
            # before the digest and between its pieces of 256 records.
            assert len(calls) >= 12
            assert threading.main_thread().name not in calls  # in the apply's worker thread
            got, want = await paused.stats(), await plain.stats()
            assert (got.records, got.bytes, got.lsn, got.digest) == (
                want.records,
                want.bytes,
                want.lsn,
                want.digest,
            )
            assert await paused.get("r0000999") == await plain.get("r0000999")
        finally:
            await paused.close()
            await plain.close()


async def test_a_blocked_pause_point_holds_its_chunk_uncommitted_while_others_apply(
    tmp_path: Path,
) -> None:
    reached, go = threading.Event(), threading.Event()

    def give_way() -> None:
        reached.set()
        go.wait(10)

    with anyio.fail_after(30):
        held = await WorkloadStore.open(tmp_path / "held.sqlite", "w", create=True)
        other = await WorkloadStore.open(tmp_path / "other.sqlite", "o", create=True)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: held.apply_changes(_chunk(), bulk=True, give_way=give_way))
                assert await anyio.to_thread.run_sync(reached.wait, 10)
                # Another copy's chunk applies while this one waits inside its apply.
                assert await other.apply_changes(_chunk(seed=4), bulk=True) == RECORDS
                assert held.lsn == 0
                assert (await held.stats()).records == 0
                go.set()
            assert held.lsn == RECORDS
            assert (await held.stats()).records == RECORDS
        finally:
            go.set()
            await held.close()
            await other.close()


async def test_small_batches_never_call_it(tmp_path: Path) -> None:
    # A batch validated on the loop (64 changes or fewer: a delta round's, an
    # activation's) runs whole: the pause point is for copies' large chunks.
    calls: list[int] = []
    with anyio.fail_after(30):
        store = await WorkloadStore.open(tmp_path / "small.sqlite", "w", create=True)
        try:
            await store.apply_changes(_chunk()[:64], give_way=lambda: calls.append(1))
            assert store.lsn == 64
            assert calls == []
        finally:
            await store.close()
