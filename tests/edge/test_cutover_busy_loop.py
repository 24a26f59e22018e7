"""No late cut: on a loop kept busy by real work, a cut hold still ends inside its deadline.

A cutover's cuts are timers on the daemon's loop. Here the loop is kept busy by a real
copy of another workload streaming into west (applies on the loop) and by writes to a
third, while ``orders`` is cut over with a final delta far too large for its deadline:
every attempt is cut (after two, the plan probes: it ignores the activation forecast and
cuts at the deadline less its reserve), and each hold must still end within the
deadline, measured on the daemon's clock, in one round of attempts at least (a round is
retried, twice at most, only for a stall of the whole process: see the assertion).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from stalls import TOKEN, cutover_request
from waiting import until

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError
from edge_actors.transfer import TransferSpec

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

DEADLINE_MS = 40.0
ATTEMPTS = 4
ROUNDS = 3  # of ATTEMPTS each: one must end every hold inside the deadline
ORDERS = 3000  # records of 1 KiB: a final delta of ~60 chunks, never done in 40 ms
INCOMING = 20_000  # records of 1 KiB streamed east -> west meanwhile


async def _stream_into_west(pair: Pair, done: anyio.Event) -> None:
    """Copy ``inbound`` from east to west (west applies it on its loop) until ``done``."""
    west, east = pair.west, pair.east
    spec = TransferSpec(
        transfer_id="inbound-copy",
        migration_id="mig-in",
        workload="inbound",
        target_name=west.name,
        target_url=west.url,
        target_token=TOKEN,
        batch_size=200,
    )
    entry = east.transfers.start(spec)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def stop() -> None:
                await done.wait()
                scope.cancel()

            tg.start_soon(stop)
            await east.transfers.run(entry, east.registry.get("inbound"))
            tg.cancel_scope.cancel()


async def _write_to_west(url: str, done: anyio.Event, count: list[int]) -> None:
    """Batches of writes to ``busy`` on west until ``done``."""
    async with EdgeClient(url, token=TOKEN) as client:
        while not done.is_set():
            await client.batch("busy", [(f"k{i:03d}", b"w" * 512) for i in range(100)])
            count[0] += 1


async def test_cut_holds_end_inside_the_deadline_on_a_busy_loop(pair: Pair) -> None:
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("orders")
    await admin_east.create_workload("orders", "incoming")
    await admin_west.create_workload("busy")
    await admin_east.create_workload("inbound")
    await admin_west.create_workload("inbound", "incoming")
    for start in range(0, ORDERS, 500):
        await client.batch(
            "orders", [(f"r{i:05d}", b"o" * 1024) for i in range(start, start + 500)]
        )
    async with EdgeClient(east.url, token=TOKEN) as east_client:
        for start in range(0, INCOMING, 1000):
            ops = [(f"i{i:06d}", bytes([i % 251]) * 1024) for i in range(start, start + 1000)]
            await east_client.batch("inbound", ops)
    rounds: list[list[float]] = []
    done, writes = anyio.Event(), [0]
    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stream_into_west, pair, done)
            tg.start_soon(_write_to_west, west.url, done, writes)
            await until(lambda: writes[0] >= 5, "the loop is busy")
            while len(rounds) < ROUNDS and not _clean(rounds):
                rounds.append(await _cut_holds(admin_west, east))
            done.set()
    # Without the reserve (neither the lag nor the cuts' lateness) every round has holds
    # past the deadline (40.2-47.0 ms here); a round may still have one when the machine
    # stalls the process (seen once in a full suite run under other jobs' load: a 108 ms
    # hold), which no reserve can plan.
    assert _clean(rounds), f"holds {rounds} ms against a {DEADLINE_MS} ms deadline"
    assert (await admin_west.workload("orders")).status == "active"


def _clean(rounds: list[list[float]]) -> bool:
    """Whether some round's holds all ended inside the deadline."""
    return any(max(held) <= DEADLINE_MS for held in rounds)


async def _cut_holds(admin_west: AdminClient, east: EdgeDaemon) -> list[float]:
    """:data:`ATTEMPTS` cutovers of ``orders``, each cut; their holds in ms."""
    held: list[float] = []
    for _ in range(ATTEMPTS):
        with pytest.raises(EdgeHTTPError) as caught:
            await admin_west.cutover("orders", cutover_request(east, DEADLINE_MS))
        assert caught.value.code == "cutover_failed"
        assert "deadline" in caught.value.message
        assert caught.value.held_ms is not None
        held.append(caught.value.held_ms)
    return held
