"""``POST /admin/workloads/{w}/cutover``: the whole cutover as one call on the source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest
from stalls import TOKEN, cutover_request

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError
from edge_actors.transfer import TransferSpec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon
    from edge_actors.edge._models import CutoverRequest

pytestmark = pytest.mark.anyio


async def _setup(pair: Pair, records: int = 120) -> None:
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming")
    await pair.client.batch("orders", [(f"r{i:04d}", f"v{i}".encode()) for i in range(records)])


def _hook_final_delta(
    daemon: EdgeDaemon,
    monkeypatch: pytest.MonkeyPatch,
    before: Callable[[], Awaitable[None]],
) -> None:
    """Run ``before`` inside the hold, just before the final delta is read (then sent
    inside the activation call, or over a peer stream)."""
    real = daemon.cutovers._final.inline

    async def read(*args: Any, **kwargs: Any) -> Any:
        await before()
        return await real(*args, **kwargs)

    monkeypatch.setattr(daemon.cutovers._final, "inline", read)


async def _queued(daemon: EdgeDaemon, workload: str, count: int) -> None:
    with anyio.fail_after(10):
        while daemon.router.gate(workload).queued < count:
            await anyio.sleep(0.005)


async def test_cutover_moves_workload_and_forwards_held_writes_in_order(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east, admin_west, admin_east, _ = pair
    await _setup(pair)  # LSN 120
    clients = [EdgeClient(west.url, token=TOKEN) for _ in range(5)]
    acked: dict[int, int] = {}
    refused: list[int] = []

    async with anyio.create_task_group() as tg:

        async def write(i: int) -> None:
            acked[i] = await clients[i].put("orders", f"held{i}", f"h{i}".encode())

        async def queue_writes() -> None:
            # Writes arrive during the hold, one after another (known arrival order).
            for i in range(5):
                tg.start_soon(write, i)
                await _queued(west, "orders", i + 1)
            info = await admin_west.workload("orders")
            assert info.held
            assert info.cutover
            # The cutover owns the hold and the route until it answers.
            for call in (admin_west.release("orders"), admin_west.hold("orders")):
                with pytest.raises(EdgeHTTPError) as caught:
                    await call
                assert caught.value.status == 409
                assert caught.value.code == "cutover_in_progress"
                refused.append(caught.value.status)

        _hook_final_delta(west, monkeypatch, queue_writes)
        answer = await admin_west.cutover("orders", cutover_request(east))
    try:
        assert refused == [409, 409]
        assert answer.hold_lsn == 120
        assert answer.target_lsn == 120
        assert answer.held_writes == 5
        assert answer.records == 120
        assert answer.moved_to == east.url
        assert answer.held_ms > 0
        assert set(answer.steps_ms) == {"hold", "final_delta", "activate", "flip"}
        # Forwarded to the target in arrival order, each applied once with its own LSN.
        assert [acked[i] for i in range(5)] == [121, 122, 123, 124, 125]
        source = await admin_west.workload("orders")
        target = await admin_east.workload("orders")
        assert (source.status, source.moved_to, source.lsn) == ("moved", east.url, 120)
        assert not source.held
        assert not source.cutover
        assert (target.status, target.lsn, target.records) == ("active", 125, 125)
        assert answer.digest == source.digest  # confirmed at the hold LSN
        async with EdgeClient(east.url, token=TOKEN) as direct:
            for i in range(5):
                assert await direct.get("orders", f"held{i}") == f"h{i}".encode()
            assert await direct.get("orders", "r0119") == b"v119"
        # Later writes follow the move; the source took nothing past the hold.
        assert await clients[0].put("orders", "after", b"a") == 126
        assert (await admin_west.workload("orders")).lsn == 120
    finally:
        for c in clients:
            await c.aclose()


async def test_cutover_with_nothing_left_to_ship(pair: Pair) -> None:
    west, east, admin_west, admin_east, _ = pair
    await _setup(pair, records=10)
    await admin_west.run_transfer(_transfer_spec(west, east, 0, 10))  # the pre-copy
    answer = await admin_west.cutover("orders", cutover_request(east, from_lsn=10))
    assert (answer.hold_lsn, answer.target_lsn, answer.records) == (10, 10, 0)
    assert (await admin_east.workload("orders")).status == "active"


def _transfer_spec(west: EdgeDaemon, east: EdgeDaemon, lo: int, hi: int) -> TransferSpec:
    return TransferSpec(
        transfer_id="pre",
        migration_id="mig-1",
        workload="orders",
        target_name=east.name,
        target_url=east.url,
        target_token=TOKEN,
        from_lsn=lo,
        to_lsn=hi,
    )


async def _assert_source_serves(pair: Pair, acked: list[int]) -> None:
    """Route unchanged, hold released, target incoming, held writes applied on the source."""
    west, _, admin_west, admin_east, client = pair
    source = await admin_west.workload("orders")
    assert (source.status, source.held, source.cutover) == ("active", False, False)
    assert (await admin_east.workload("orders")).status == "incoming"
    assert acked == list(range(source.lsn - len(acked) + 1, source.lsn + 1))
    assert await client.put("orders", "later", b"x") == source.lsn + 1
    assert west.router.gate("orders").queued == 0


async def _failing_cutover(
    pair: Pair,
    monkeypatch: pytest.MonkeyPatch,
    request: CutoverRequest,
    *,
    hold_writes: int = 3,
    then: Callable[[], Awaitable[None]] | None = None,
) -> tuple[EdgeHTTPError, list[int]]:
    """Run a cutover that fails; ``hold_writes`` writes arrive during its hold, then
    ``then`` runs (still inside the hold, before the final delta)."""
    west = pair.west
    acked: list[int] = []
    errors: list[EdgeHTTPError] = []
    async with EdgeClient(west.url, token=TOKEN) as writer, anyio.create_task_group() as tg:

        async def write(i: int) -> None:
            acked.append(await writer.put("orders", f"held{i}", b"h"))

        async def queue_writes() -> None:
            for i in range(hold_writes):
                tg.start_soon(write, i)
                await _queued(west, "orders", i + 1)
            if then is not None:
                await then()

        _hook_final_delta(west, monkeypatch, queue_writes)
        try:
            await pair.admin_west.cutover("orders", request)
        except EdgeHTTPError as exc:
            errors.append(exc)
    assert len(errors) == 1
    return errors[0], acked


async def test_target_refusing_activation_leaves_the_source_serving(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _setup(pair)
    # The target's copy diverges: its digest at the hold LSN cannot match the source's.
    await pair.east.registry.get("orders").put("stray", b"not on the source")
    error, acked = await _failing_cutover(pair, monkeypatch, cutover_request(pair.east))
    assert error.status == 502
    assert error.code == "cutover_failed"
    assert "'activate'" in error.message
    assert "digest" in error.message
    assert len(acked) == 3  # the held writes ran on the source, none refused
    await _assert_source_serves(pair, sorted(acked))


async def test_target_unreachable_during_final_delta_leaves_the_source_serving(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edge_actors.edge._final_delta._INLINE_MAX_RECORDS", 0)  # a peer stream
    await _setup(pair)
    error, acked = await _failing_cutover(
        pair, monkeypatch, cutover_request(pair.east), hold_writes=2, then=pair.east.aclose
    )
    assert error.code == "cutover_failed"
    assert "'final_delta'" in error.message
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.held, source.cutover) == ("active", False, False)
    assert sorted(acked) == [121, 122]  # the held writes ran on the source, none refused
    assert await pair.client.put("orders", "later", b"x") == 123


async def test_bad_target_token_fails_before_holding(pair: Pair) -> None:
    await _setup(pair)
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_west.cutover("orders", cutover_request(pair.east, token="wrong"))
    assert caught.value.status == 502
    assert "'check_target'" in caught.value.message
    assert "nothing was held" in caught.value.message
    await _assert_source_serves(pair, [])
    # The source's own admin API wants its token too.
    async with AdminClient(pair.west.url, "wrong") as intruder:
        with pytest.raises(EdgeHTTPError) as denied:
            await intruder.cutover("orders", cutover_request(pair.east))
    assert denied.value.status == 401
    assert (await pair.admin_west.workload("orders")).status == "active"


async def test_cutover_refuses_a_workload_that_is_not_active(pair: Pair) -> None:
    await _setup(pair)
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.cutover("orders", cutover_request(pair.west))
    assert (caught.value.status, caught.value.code) == (409, "workload_not_active")
