"""A cutover's source announces the activation before its hold (``POST .../prepare``).

Real daemons on loopback. The target waits for its durable steps in flight (a snapshot
install's fsync and move) before it answers, and starts none until the activation is
over, so the hold never meets a flush on the target. The durable steps here are real
worker threads inside ``UrgentWork.durable_step``, held open by the test.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import pytest
from waiting import until

from edge_actors.edge import EdgeHTTPError

if TYPE_CHECKING:
    from conftest import Pair
    from edge_actors.edge import EdgeDaemon
    from edge_actors.edge._models import PreparedActivation

pytestmark = pytest.mark.anyio


class _Step:
    """One durable step in a worker thread of ``daemon``, open until :meth:`end`."""

    def __init__(self, daemon: EdgeDaemon) -> None:
        self._urgent = daemon.urgent
        self.inside = threading.Event()
        self._leave = threading.Event()

    def run(self) -> None:
        with self._urgent.durable_step():
            self.inside.set()
            self._leave.wait(30)

    def end(self) -> None:
        self._leave.set()


async def test_the_target_answers_once_its_flush_in_flight_has_ended(pair: Pair) -> None:
    await pair.admin_east.create_workload("orders", "incoming")
    step = _Step(pair.east)
    answers: list[PreparedActivation] = []

    async def prepare() -> None:
        answers.append(
            await pair.admin_east.prepare_activation("orders", quiet_ms=5000, settle_ms=10_000)
        )

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, step.run)
                await until(step.inside.is_set, "the flush runs")
                tg.start_soon(prepare)
                await until(lambda: pair.east.urgent.expects("orders"), "the target expects it")
                # A second install reaching its flush now waits for the activation.
                second = _Step(pair.east)
                second.end()
                tg.start_soon(anyio.to_thread.run_sync, second.run)
                await until(lambda: _pauses(pair.east) == 1, "the second flush waits")
                await anyio.wait_all_tasks_blocked()
                assert answers == []  # still waiting for the first flush
                step.end()
                await until(lambda: len(answers) == 1, "the target answers")
                assert not second.inside.is_set()  # the activation is still expected
                info = await pair.admin_east.activate("orders", min_lsn=0)
                assert info.status == "active"
    finally:
        step.end()
    assert second.inside.is_set()  # ran once the activation was over
    (answer,) = answers
    assert answer.workload.status == "incoming"
    assert answer.in_flight == 0
    assert answer.settled_ms > 0
    assert pair.east.urgent.durable_steps == 0


async def test_the_target_answers_at_settle_ms_with_the_flush_still_running(pair: Pair) -> None:
    await pair.admin_east.create_workload("orders", "incoming")
    step = _Step(pair.east)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, step.run)
                await until(step.inside.is_set, "the flush runs")
                answer = await pair.admin_east.prepare_activation(
                    "orders", quiet_ms=100, settle_ms=0
                )
                assert answer.in_flight == 1
                step.end()
    finally:
        step.end()


async def test_an_active_workload_is_read_and_nothing_is_expected(pair: Pair) -> None:
    await pair.admin_east.create_workload("orders", "active")
    answer = await pair.admin_east.prepare_activation("orders", quiet_ms=10_000, settle_ms=0)
    assert (answer.workload.status, answer.in_flight) == ("active", 0)
    step = _Step(pair.east)
    step.end()
    with anyio.fail_after(10):
        await anyio.to_thread.run_sync(step.run)  # no wait: nothing is expected
    assert _pauses(pair.east) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quiet_ms": 0}, "quiet_ms"),
        ({"quiet_ms": -1}, "quiet_ms"),
        ({"quiet_ms": 10_001}, "quiet_ms"),
        ({"quiet_ms": 10, "settle_ms": -1}, "settle_ms"),
        ({"quiet_ms": 10, "settle_ms": 1e9}, "settle_ms"),
        ({"settle_ms": 10}, "quiet_ms"),
        ({"quiet_ms": 10, "wait": 1}, "wait"),
    ],
)
async def test_a_bad_prepare_body_is_400_naming_the_field(
    pair: Pair, body: dict[str, float], field: str
) -> None:
    await pair.admin_east.create_workload("orders", "incoming")
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east._call("POST", "/admin/workloads/orders/prepare", body)
    assert (caught.value.status, caught.value.code) == (400, "invalid_body")
    assert field in caught.value.message
    assert _pauses(pair.east) == 0


async def test_an_unknown_workload_is_404(pair: Pair) -> None:
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.prepare_activation("nobody", quiet_ms=100)
    assert caught.value.status == 404


def _pauses(daemon: EdgeDaemon) -> float:
    """Pauses of background work on ``daemon`` (its metric)."""
    value = daemon.metrics.registry.get_sample_value(
        "edge_transfer_yield_pauses_total", {"edge": daemon.name}
    )
    return value or 0.0
