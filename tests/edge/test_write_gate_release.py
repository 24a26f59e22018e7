"""A hold released to a new edge lets every queued write go in the same loop turn.

Released one turn at a time (each write passing the turn on as it leaves), ten held
writes took ten loop turns to reach the forwarder: 2 ms between the flip and the
forward's start in ``peers.py``'s logs, on top of the hold and the forward. A release
to a new edge queues them all for the forward in one turn, in arrival order; a release
without a move still runs them here one at a time.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from edge_actors.edge._routing import WriteGate

pytestmark = pytest.mark.anyio


async def _held_writes(gate: WriteGate, count: int, entered: list[int], leave: anyio.Event) -> None:
    async def write(number: int) -> None:
        async with gate.admit() as waited:
            assert waited
            entered.append(number)
            await leave.wait()

    async with anyio.create_task_group() as writes:
        for number in range(count):
            writes.start_soon(write, number)
            await anyio.lowlevel.checkpoint()  # queued in this order


@pytest.mark.parametrize(("at_once", "expected"), [(True, [0, 1, 2, 3, 4]), (False, [0])])
async def test_a_release_to_a_new_edge_lets_every_write_go_in_one_turn(
    at_once: bool, expected: list[int]
) -> None:
    gate = WriteGate("orders")
    gate.begin_hold()
    entered: list[int] = []
    leave = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_held_writes, gate, 5, entered, leave)
        while gate.queued < 5:
            await anyio.lowlevel.checkpoint()
        gate.release(all_at_once=at_once)
        # In flight from the release, before their tasks resume: a hold taken while they
        # run must wait for them (else it answers an LSN they then exceed).
        assert gate.inflight == len(expected)
        await anyio.lowlevel.checkpoint()  # one turn: the woken writes ran before this
        assert entered == expected
        leave.set()
    assert entered == [0, 1, 2, 3, 4]
    assert (gate.queued, gate.inflight) == (0, 0)


async def test_a_write_cancelled_after_a_release_at_once_leaves_the_others_alone() -> None:
    gate = WriteGate("orders")
    gate.begin_hold()
    done: list[int] = []

    async def write(number: int, scope: anyio.CancelScope) -> None:
        with scope:
            async with gate.admit():
                await anyio.lowlevel.checkpoint()
                done.append(number)

    scopes = [anyio.CancelScope() for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for number, scope in enumerate(scopes):
            tg.start_soon(write, number, scope)
            await anyio.lowlevel.checkpoint()
        gate.release(all_at_once=True)
        scopes[1].cancel()
    assert done == [0, 2]
    assert (gate.queued, gate.inflight) == (0, 0)
