"""Malformed plans not covered by ``test_control``: each raises its error naming the key
and the offending value, from ``plan()`` (and as a 400/404 from the admin route), and
nothing is journaled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from edge_actors.edge import add_migration_routes
from edge_actors.errors import ConfigError
from edge_actors.migration import MigrationError, UnknownEdgeName, WorkloadNotOnEdge

from .conftest import TOKEN, Edges, run_daemon
from .ledger import make_workload, plan_for

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio

CASES: list[tuple[dict[str, Any], type[Exception], str]] = [
    # priority
    ({"priority": 0}, ConfigError, r"^priority: expected an integer 1\.\.10, got 0$"),
    ({"priority": "high"}, ConfigError, r"^priority: .*got 'high'$"),
    ({"priority": True}, ConfigError, r"^priority: .*got True$"),
    ({"priority": 7.5}, ConfigError, r"^priority: .*got 7\.5$"),
    # strategy
    ({"strategy": "LIVE"}, ConfigError, r"^strategy: expected one of live, .*, got 'LIVE'$"),
    ({"strategy": 3}, ConfigError, r"^strategy: .*got 3$"),
    # sizes, durations, bandwidths, flags
    ({"sync_batch_size": "100"}, ConfigError, r"^sync_batch_size: .*got '100'$"),
    ({"sync_batch_size": 2_000_000}, ConfigError, r"^sync_batch_size: .*got 2000000$"),
    ({"enable_compression": 1}, ConfigError, r"^enable_compression: .*got 1$"),
    ({"bandwidth_limit_mbps": "lots"}, ConfigError, r"^bandwidth_limit_mbps: cannot parse 'lots'"),
    ({"bandwidth_limit_mbps": 0}, ConfigError, r"^bandwidth_limit_mbps: .*got 0"),
    ({"bandwidth_limit_mbps": float("inf")}, ConfigError, r"^bandwidth_limit_mbps: inf "),
    ({"checkpoint_interval": "0s"}, ConfigError, r"^checkpoint_interval: .*got 0"),
    ({"checkpoint_interval": -1}, ConfigError, r"^checkpoint_interval: -1"),
    ({"checkpoint_interval": True}, ConfigError, r"^checkpoint_interval: .*got True$"),
    # constraints
    ({"constraints": "fast"}, ConfigError, r"^constraints: .*got 'fast'$"),
    ({"constraints": {"sync_interval": "sometimes"}}, ConfigError,
     r"^constraints\.sync_interval: cannot parse 'sometimes'"),
    ({"constraints": {"sync_interval": -1}}, ConfigError, r"^constraints\.sync_interval: -1"),
    ({"constraints": {"delta_threshold": "-5MB"}}, ConfigError,
     r"^constraints\.delta_threshold: cannot parse '-5MB'"),
    ({"constraints": {"delta_threshold": 0}}, ConfigError, r"^constraints\.delta_threshold: .*0"),
    ({"constraints": {"bandwidth": "0mbps"}}, ConfigError, r"^constraints\.bandwidth: .*got 0"),
    ({"constraints": {"bandwidth": "warp"}}, ConfigError, r"^constraints\.bandwidth: .*'warp'"),
    ({"constraints": {"max_downtime": "0s"}}, ConfigError, r"^constraints\.max_downtime: .*0"),
    ({"constraints": {"max_downtime": True}}, ConfigError, r"^constraints\.max_downtime: .*True"),
    ({"constraints": {"max_rounds": "3"}}, ConfigError, r"^constraints\.max_rounds: .*'3'$"),
    ({"constraints": {"max_rounds": 0}}, ConfigError, r"^constraints\.max_rounds: .*got 0$"),
    ({"constraints": {"time_window": "2-6"}}, ConfigError, r"^constraints\.time_window: .*'2-6'"),
    ({"constraints": {"time_window": "02:00-06:00 Mars/Base"}}, ConfigError,
     r"^constraints\.time_window: unknown time zone 'Mars/Base'"),
    ({"constraints": {"force_migration": "yes"}}, ConfigError,
     r"^constraints\.force_migration: expected true or false, got 'yes'$"),
    ({"constraints": {"Max_Downtime": "1s"}}, ConfigError,
     r"^constraints\.Max_Downtime: unknown constraint 'Max_Downtime'"),
    # shape: workloads, edges, ids, endpoints
    ({"workloads": "app"}, ConfigError, r"^workloads: .*got 'app'$"),
    ({"workloads": [7]}, ConfigError, r"^workloads: expected a workload name .*got 7$"),
    ({"workloads": ["app", "app"]}, ConfigError, r"^workloads: 'app' is listed twice$"),
    ({"workloads": [""]}, ConfigError, r"^workloads: expected a workload name .*, got ''$"),
    ({"source_edge": ""}, ConfigError, r"^source_edge: expected an edge name .*, got ''$"),
    ({"target_edge": None}, ConfigError, r"^target_edge: .*got None$"),
    ({"source_edge": "edge-moon"}, UnknownEdgeName, "edge-moon"),
    ({"workloads": ["app", "ghost"]}, WorkloadNotOnEdge, "ghost"),
    ({"migration_id": "../escape"}, ConfigError, r"^migration_id: .*, got '\.\./escape'$"),
    ({"test_endpoints": ["health"]}, ConfigError, r"^test_endpoints: .*, got 'health'$"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "error", "match"), CASES)
async def test_malformed_plan_names_key_and_value(
    edges: Edges, service: MigrationService, extra: dict[str, Any], error: type[Exception],
    match: str,
) -> None:  # fmt: skip
    await make_workload(edges, "app", 5)
    with pytest.raises(error, match=match):
        await service.plan({**plan_for("app"), **extra})
    assert await service.statuses() == []  # nothing journaled
    assert await service.history() == []


async def test_plan_of_a_workload_not_active_on_the_source(
    edges: Edges, service: MigrationService
) -> None:
    await make_workload(edges, "app", 5)
    await service.plan(plan_for("app", migration_id="first"))
    with pytest.raises(ConfigError, match=r"^migration_id: 'first' already exists$"):
        await service.plan(plan_for("app", migration_id="first"))
    assert (await service.execute("first", wait=True, timeout=30)).state == "completed"
    with pytest.raises(MigrationError, match=r"workload 'app' is moved on 'edge-west'"):
        await service.plan(plan_for("app"))
    assert [s.migration_id for s in await service.statuses()] == ["first"]


async def test_route_maps_plan_errors_to_statuses(
    edges: Edges, service: MigrationService, tmp_path: Path
) -> None:
    await make_workload(edges, "app", 5)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"priority": "high"}, 400, "priority: expected an integer 1..10, got 'high'"),
        ({"constraints": {"delta_threshold": "lots"}}, 400, "constraints.delta_threshold"),
        ({"target_edge": "edge-moon"}, 404, "edge-moon"),
        ({"workloads": ["ghost"]}, 404, "ghost"),
    ]
    async with (
        run_daemon(
            tmp_path, "edge-admin", extra_routes=lambda app: add_migration_routes(app, service)
        ) as host,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        for extra, code, text in cases:
            body = {**plan_for("app"), **extra}
            async with http.post(host.url + "/admin/migrations", json=body) as resp:
                assert resp.status == code, await resp.text()
                assert text in (await resp.json())["message"]
    assert await service.statuses() == []
