"""A target edge that stalls a cutover's steps, and a cutover with writes held by it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors.edge import AdminClient, EdgeClient, EdgeError, EdgeHTTPError
from edge_actors.edge._models import CutoverRequest

if TYPE_CHECKING:
    import pytest

    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon, WorkloadInfo

TOKEN = "test-cluster-token-0123456789abcdefghij"


def cutover_request(
    east: EdgeDaemon, deadline_ms: float | None = None, *, token: str = TOKEN, from_lsn: int = 0
) -> CutoverRequest:
    """A cutover of ``orders`` to ``east`` (migration ``mig-1``) within ``deadline_ms``."""
    return CutoverRequest(
        target_name=east.name,
        target_url=east.url,
        target_token=token,
        migration_id="mig-1",
        transfer_id="mig-1-final",
        from_lsn=from_lsn,
        batch_size=50,
        deadline_ms=deadline_ms,
    )


def stall_activation(
    daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch, reached: anyio.Event
) -> None:
    """The target takes the activation call and never answers it (a stopped process)."""

    async def stalled(
        name: str, min_lsn: int, digest: str | None, epoch: int | None = None, **delta: Any
    ) -> WorkloadInfo:
        reached.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(daemon.router, "activate", stalled)


async def stalled_target(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> anyio.Event:
    """``orders`` with 50 records on west (LSN 50), incoming on east, whose activation
    stalls (:func:`stall_activation`); returns the event set when it is reached."""
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming")
    await pair.client.batch("orders", [(f"r{i:04d}", b"v") for i in range(50)])
    reached = anyio.Event()
    stall_activation(pair.east, monkeypatch, reached)
    return reached


@dataclass
class HeldCutover:
    """What a cutover with writes queued during its hold ended with."""

    failed: list[EdgeHTTPError] = field(default_factory=list)  # the cutover's own error
    acked: list[int] = field(default_factory=list)  # LSNs of the acknowledged held writes
    refused: list[EdgeError] = field(default_factory=list)  # held writes not acknowledged


async def cutover_with_held_writes(
    west: EdgeDaemon,
    east: EdgeDaemon,
    reached: anyio.Event,
    deadline_ms: float,
    *,
    writes: int = 3,
    timeout_s: float = 10.0,
) -> HeldCutover:
    """Cut ``orders`` over from ``west`` to ``east``; once the target's activation was
    ``reached``, send ``writes`` writes to ``west`` (queued by the hold); return when the
    cutover and every write have ended (within ``timeout_s``)."""
    outcome = HeldCutover()
    with anyio.fail_after(timeout_s):
        await _cut_over_holding(outcome, west, east, reached, deadline_ms, writes)
    return outcome


async def _cut_over_holding(
    outcome: HeldCutover,
    west: EdgeDaemon,
    east: EdgeDaemon,
    reached: anyio.Event,
    deadline_ms: float,
    writes: int,
) -> None:
    async with (
        AdminClient(west.url, TOKEN) as admin,
        EdgeClient(west.url, token=TOKEN) as writer,
        anyio.create_task_group() as tg,
    ):

        async def cutover() -> None:
            try:
                await admin.cutover("orders", cutover_request(east, deadline_ms))
            except EdgeHTTPError as exc:
                outcome.failed.append(exc)

        async def write(i: int) -> None:
            try:
                outcome.acked.append(await writer.put("orders", f"held{i}", b"h"))
            except EdgeError as exc:
                outcome.refused.append(exc)

        tg.start_soon(cutover)
        await reached.wait()
        for i in range(writes):  # arrive during the hold: queued, not refused
            tg.start_soon(write, i)
        gate = west.router.gate("orders")
        while gate.queued < writes and gate.held:
            await anyio.sleep(0.005)


class SlowEpochFile:
    """Holds back the first write of a daemon's epoch file that contains ``matches``
    after one that contained ``after``, in its thread, until :attr:`go` is set (a disk
    whose fsync takes that long)."""

    def __init__(
        self,
        daemon: EdgeDaemon,
        monkeypatch: pytest.MonkeyPatch,
        matches: bytes,
        *,
        after: bytes = b"",
    ) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()
        fence_log = daemon.router.fence._entries.log
        real_flush = fence_log._flush
        seen_after = [not after]

        def slow_flush(upto: int) -> None:
            # What the write will put on disk (or more): the changes not written yet.
            body = b"".join(bytes(change) for _, _, _, change in fence_log._pending)
            if seen_after[0] and matches in body and not self.entered.is_set():
                self.entered.set()
                self.go.wait(5)
            seen_after[0] = seen_after[0] or after in body
            real_flush(upto)

        monkeypatch.setattr(fence_log, "_flush", slow_flush)
