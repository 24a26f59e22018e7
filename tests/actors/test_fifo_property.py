"""Hypothesis: any interleaving of tells from several senders keeps per-sender FIFO."""

from __future__ import annotations

import anyio
import anyio.lowlevel
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.actors import Actor, ActorSystem, run_main


class Log(Actor[tuple[int, int]]):
    def __init__(self, out: list[tuple[int, int]]) -> None:
        self.out = out

    async def receive(self, message: tuple[int, int]) -> None:
        self.out.append(message)
        if message[1] % 3 == 0:
            await anyio.lowlevel.checkpoint()  # the actor also yields mid-stream


@settings(max_examples=40, deadline=None)
@given(
    plan=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=200),
    mailbox_size=st.integers(min_value=1, max_value=8),
    yields=st.lists(st.booleans(), min_size=1, max_size=50),
)
def test_interleaved_senders_keep_per_sender_order(
    plan: list[int], mailbox_size: int, yields: list[bool]
) -> None:
    """``plan`` says which sender sends next; senders use tell (waiting when full)."""
    out: list[tuple[int, int]] = []
    per_sender = {s: [i for i, who in enumerate(plan) if who == s] for s in set(plan)}

    async def main() -> None:
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: Log(out), mailbox_size=mailbox_size)

            async def sender(s: int, seqs: list[int]) -> None:
                for k, seq in enumerate(seqs):
                    await ref.tell((s, seq))
                    if yields[k % len(yields)]:
                        await anyio.lowlevel.checkpoint()

            async with anyio.create_task_group() as tg:
                for s, seqs in per_sender.items():
                    tg.start_soon(sender, s, seqs)
            with anyio.fail_after(10):
                while len(out) < len(plan):
                    await anyio.sleep(0.001)

    run_main(main, use_uvloop=False)
    assert sorted(out, key=lambda m: m[1]) == [(who, i) for i, who in enumerate(plan)]
    for s, seqs in per_sender.items():
        assert [seq for who, seq in out if who == s] == seqs
