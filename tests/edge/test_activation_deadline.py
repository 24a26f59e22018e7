"""An activation given a time (``within_ms``) refuses in time rather than overrun it.

Two real daemons on loopback. A cutover's source gives the target the time left until it
would cut the activation, less a round trip. A target whose durable writes take longer
than what is left (here: it measured them at half a second, a slow disk) refuses before
writing anything, so the source undoes its cutover without a second call, inside the
deadline; before, the source waited until its cut and then called the target to set it
back, which held writes past the deadline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from stalls import cutover_request

from edge_actors.edge import EdgeHTTPError
from support.state_files import edge_state

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

DEADLINE_MS = 300.0


async def _seed(pair: Pair) -> str:
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming")
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(40)])
    return (await pair.admin_west.workload("orders")).digest


def _epochs(pair: Pair) -> dict[str, object]:
    return edge_state(pair.east.config.data_dir)["epochs"]


async def test_a_target_that_cannot_be_durable_in_time_refuses_and_writes_nothing(
    pair: Pair,
) -> None:
    digest = await _seed(pair)
    changes = await pair.west.registry.get("orders").scan_changes(0, 40)
    pair.east.router.activation_writes.record("state_write", 0.5)  # a slow disk, measured
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.activate(
            "orders", min_lsn=40, digest=digest, epoch=7, delta=changes, within_ms=100.0
        )
    assert (caught.value.status, caught.value.code) == (409, "activation_too_late")
    assert "durable writes take 500.0 ms here" in caught.value.message
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn) == ("incoming", 0)  # refused before the delta's apply
    assert "orders" not in _epochs(pair)  # nothing written for the refused epoch
    # Given enough time, the same activation goes through.
    info = await pair.admin_east.activate(
        "orders", min_lsn=40, digest=digest, epoch=7, delta=changes, within_ms=2_000.0
    )
    assert info.status == "active"


async def test_the_target_plans_its_durable_write_at_the_90th_percentile(pair: Pair) -> None:
    # In place, a state write takes 1.7 / 2.7 / 5.1 ms (p50 / p75 / p90) in a wide plan:
    # the upper quartile would leave a margin of under 1 ms against one write in ten.
    digest = await _seed(pair)
    changes = await pair.west.registry.get("orders").scan_changes(0, 40)
    for _ in range(28):
        pair.east.router.activation_writes.record("state_write", 0.001)
    for _ in range(4):  # the slowest eighth of recent writes: above the upper quartile
        pair.east.router.activation_writes.record("state_write", 0.2)
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.activate(
            "orders", min_lsn=40, digest=digest, epoch=7, delta=changes, within_ms=100.0
        )
    assert (caught.value.status, caught.value.code) == (409, "activation_too_late")
    assert "durable writes take 200.0 ms here" in caught.value.message
    assert (await pair.admin_east.workload("orders")).status == "incoming"


async def test_the_source_undoes_a_refused_activation_without_a_second_call(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(pair)
    calls: list[str] = []
    real = pair.east.router.set_route_fenced

    async def counted(name: str, status: str, *args: object, **kwargs: object) -> object:
        calls.append(status)
        return await real(name, status, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pair.east.router, "set_route_fenced", counted)
    pair.east.router.activation_writes.record("state_write", 0.5)  # more than the deadline
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_west.cutover("orders", cutover_request(pair.east, DEADLINE_MS))
    assert (caught.value.status, caught.value.code) == (502, "cutover_failed")
    assert "activation_too_late" in caught.value.message
    assert "the target refused the activation in time" in caught.value.message
    assert caught.value.held_ms is not None
    assert caught.value.held_ms < DEADLINE_MS
    assert calls == []  # no set-incoming call: the target wrote nothing
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.retiring_to, source.held) == ("active", None, False)
    assert (await pair.admin_east.workload("orders")).status == "incoming"
    assert await pair.client.put("orders", "after", b"x") == 41  # served by the source
