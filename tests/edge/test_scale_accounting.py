"""Capacity checks and ``/metrics`` cost the same with 3 or 150 workloads (issue 12).

The capacity check used to add up every workload's stats on every write, and
``/metrics`` to list every workload; now the registry keeps running totals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import AdminClient, EdgeCapacityExceeded, EdgeClient
from edge_actors.edge._reports import METRIC_WORKLOADS
from edge_actors.store import WorkloadStore

if TYPE_CHECKING:
    from conftest import StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
_MANY = METRIC_WORKLOADS + 50


async def test_the_capacity_check_reads_no_store(
    start_daemon: StartDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_daemon("edge-a", max_bytes=1000) as daemon:
        async with AdminClient(daemon.url, TOKEN) as admin:
            for i in range(_MANY):
                await admin.create_workload(f"w{i:03}")
        calls = 0
        original = WorkloadStore.stats

        async def counting(self: WorkloadStore) -> object:
            nonlocal calls
            calls += 1
            return await original(self)

        monkeypatch.setattr(WorkloadStore, "stats", counting)
        async with EdgeClient(daemon.url, token=TOKEN) as client:
            await client.put("w001", "k", b"x" * 500)
            assert calls == 0  # no workload's stats read to check the capacity
            with pytest.raises(EdgeCapacityExceeded):
                await client.put("w002", "k", b"y" * 600)
            await client.put("w002", "k", b"y" * 400)
        assert calls == 0
        async with AdminClient(daemon.url, TOKEN) as admin:
            capacity = await admin.capacity()
        assert capacity.used_bytes == 1 + 500 + 1 + 400
        assert capacity.used_workloads == _MANY


async def test_metrics_list_a_bounded_number_of_workloads(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a") as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        for i in range(_MANY):
            await admin.create_workload(f"w{i:03}")
        await client.put("w007", "k", b"12345")
        text = await admin.metrics_text()
    series = [line for line in text.splitlines() if line.startswith("edge_store_records{")]
    assert len(series) <= METRIC_WORKLOADS
    assert 'edge_store_records{edge="edge-a",workload="w007"} 1.0' in text  # written last
    assert f'edge_store_workloads{{edge="edge-a"}} {float(_MANY)}' in text
    assert 'edge_store_records_all{edge="edge-a"} 1.0' in text
    assert 'edge_store_bytes_all{edge="edge-a"} 6.0' in text
