# ruff: noqa: E501  (the tables of bad calls read best one call per line)
"""``MigrationService`` with bad arguments: a typed error naming the parameter, nothing
journaled, and the migration supervisor (the registry of every migration) never dies --
not even while a migration runs and bad requests arrive concurrently."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.edge import (
    AdminClient,
    EdgeClient,
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
)
from edge_actors.errors import ConfigError
from edge_actors.migration import (
    InvalidRequest,
    MigrationError,
    MigrationRefusal,
    MigrationService,
    OverallMetrics,
    UnknownMigration,
)
from edge_actors.migration._messages import (
    Configure,
    Execute,
    GetHistory,
    GetProgress,
    GetStatus,
    Register,
    RollBack,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

pytestmark = pytest.mark.anyio
TOKEN = "service-inputs-token-0123456789abcdefghij"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[MigrationService]:
    def config(name: str) -> EdgeConfig:
        return EdgeConfig(
            name=name, data_dir=str(tmp_path / name), cluster_token=TOKEN, shutdown_timeout_s=2.0
        )

    async with EdgeDaemon(config("edge-w")) as west, EdgeDaemon(config("edge-e")) as east:
        topology = Topology(
            {"edge-w": EdgeEndpoint(west.url, TOKEN), "edge-e": EdgeEndpoint(east.url, TOKEN)}
        )
        async with AdminClient(west.url, TOKEN) as admin, EdgeClient(west.url, token=TOKEN) as app:
            await admin.create_workload("app")
            for start in range(0, 2000, 500):
                await app.batch(
                    "app", [(f"k{i:05d}", b"x" * 512) for i in range(start, start + 500)]
                )
        async with (
            HttpEdgeGateway(topology) as gateway,
            MigrationService(gateway, tmp_path / "sup") as svc,
        ):
            yield svc


def plan_for(**extra: Any) -> dict[str, Any]:
    return {"source_edge": "edge-w", "target_edge": "edge-e", "workloads": ["app"], **extra}


async def assert_untouched(service: MigrationService) -> None:
    assert await service.statuses() == []
    assert await service.history() == []


BAD_CALLS: list[tuple[str, Callable[[MigrationService], Awaitable[object]], str]] = [
    ("status list", lambda s: s.status(["m"]), "migration_id: expected a non-empty string, got ['m']"),  # type: ignore[arg-type]
    ("status dict", lambda s: s.status({"a": 1}), "migration_id: expected a non-empty string"),  # type: ignore[arg-type]
    ("status None", lambda s: s.status(None), "migration_id: expected a non-empty string, got None"),  # type: ignore[arg-type]
    ("progress int", lambda s: s.progress(5), "migration_id: expected a non-empty string, got 5"),  # type: ignore[arg-type]
    ("metrics list", lambda s: s.metrics([1]), "migration_id: expected a non-empty string"),  # type: ignore[arg-type]
    ("history dict", lambda s: s.history({}), "migration_id: expected a non-empty string, got {}"),  # type: ignore[arg-type]
    ("checkpoints empty", lambda s: s.checkpoints(""), "migration_id: expected a non-empty string"),
    ("execute list", lambda s: s.execute(["m"]), "migration_id: expected a non-empty string"),  # type: ignore[arg-type]
    ("execute auto_rollback", lambda s: s.execute("m", auto_rollback="yes"), "auto_rollback: expected true or false"),  # type: ignore[arg-type]
    ("execute timeout nan", lambda s: s.execute("m", wait=True, timeout=math.nan), "timeout: expected seconds >= 0 or None, got nan"),
    ("execute timeout neg", lambda s: s.execute("m", wait=True, timeout=-1), "timeout: expected seconds >= 0"),
    ("pause list", lambda s: s.pause(["m"]), "migration_id: expected a non-empty string"),  # type: ignore[arg-type]
    ("resume int", lambda s: s.resume(3), "migration_id: expected a non-empty string, got 3"),  # type: ignore[arg-type]
    ("cancel bytes", lambda s: s.cancel(b"m"), "migration_id: expected a non-empty string, got b'm'"),  # type: ignore[arg-type]
    ("rollback checkpoint list", lambda s: s.rollback("m", [1]), "checkpoint_id: expected a non-empty string, got [1]"),  # type: ignore[arg-type]
    ("rollback timeout inf", lambda s: s.rollback("m", timeout=math.inf), "timeout: expected seconds >= 0"),
    ("wait timeout bool", lambda s: s.wait("m", ["completed"], timeout=True), "timeout: expected seconds >= 0 or None, got True"),
    ("wait states", lambda s: s.wait("m", [1]), "states: expected state names, got 1"),  # type: ignore[list-item]
    ("configure unknown", lambda s: s.configure(bogus=1), "bogus: unknown setting"),
    ("configure interval list", lambda s: s.configure(checkpoint_interval=[1]), "checkpoint_interval: expected seconds"),
    ("configure bandwidth nan", lambda s: s.configure(bandwidth_limit_mbps=math.nan), "bandwidth_limit_mbps: expected a positive finite number, got nan"),
    ("configure bandwidth inf", lambda s: s.configure(bandwidth_limit_mbps=math.inf), "bandwidth_limit_mbps: expected a positive finite number, got inf"),
    ("configure max_concurrent", lambda s: s.configure(max_concurrent=True), "max_concurrent: expected an integer 1..1000, got True"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "call", "message"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
async def test_bad_arguments_are_refused_and_change_nothing(
    service: MigrationService,
    label: str,
    call: Callable[[MigrationService], Awaitable[object]],
    message: str,
) -> None:
    before = await service.configure()
    with pytest.raises(ConfigError) as caught:
        await call(service)
    assert message in str(caught.value), label
    assert "\n" not in str(caught.value)
    await assert_untouched(service)
    assert await service.configure() == before  # no default changed either
    overall = await service.metrics()
    assert isinstance(overall, OverallMetrics)
    assert overall.migrations == 0  # the supervisor still answers


PLAN_CASES: list[tuple[dict[str, Any], str]] = [
    ({"bogus": 1}, r"^bogus: unknown plan parameter \(known: source_edge, "),
    ({"x" * 500: 1}, r"^x{61}\.\.\.: unknown plan parameter"),
    ({"source_edge": "edge w"}, r"^source_edge: expected an edge name \(letters.*, got 'edge w'$"),
    ({"source_edge": "e" * 5000}, r"^source_edge: expected an edge name .*, got 'e+\.\.\.$"),
    ({"target_edge": "../etc"}, r"^target_edge: expected an edge name .*, got '\.\./etc'$"),
    ({"workloads": [f"w{i}" for i in range(1001)]}, r"^workloads: expected a non-empty list of workload names \(at most 1000\), got 1001 items$"),
    ({"workloads": ["x" * 5000]}, r"^workloads: expected a workload name \(.*\), got 'x+\.\.\.$"),
    ({"test_endpoints": ["/a b"]}, r"^test_endpoints: expected a path starting with '/' \(at most 2048 printable characters, no spaces\), got '/a b'$"),
    ({"test_endpoints": ["/ok\n"]}, r"^test_endpoints: expected a path .*, got '/ok\\n'$"),
    ({"test_endpoints": ["/" + "a" * 3000]}, r"^test_endpoints: expected a path starting with '/' \(at most 2048 .*, got '/a+"),
    ({"test_endpoints": ["/x"] * 101}, r"^test_endpoints: expected a list of paths \(at most 100\), got 101 items$"),
    ({"constraints": {1: "x"}}, r"^constraints: names must be strings, got 1$"),
    ({"constraints": {"max_rounds": 10**30}}, r"^constraints\.max_rounds: expected 1\.\.10000"),
    ({"checkpoint_interval": math.nan}, r"^checkpoint_interval: nan "),
    ({"bandwidth_limit_mbps": math.nan}, r"^bandwidth_limit_mbps: nan "),
    ({"migration_id": 5}, r"^migration_id: expected a migration id \(.*\), got 5$"),
    ({"migration_id": "x" * 500}, r"^migration_id: expected a migration id \(.*\), got 'x+\.\.\.$"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "match"), PLAN_CASES)
async def test_plan_gaps_are_refused_and_nothing_is_journaled(
    service: MigrationService, extra: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        await service.plan(plan_for(**extra))
    assert len(str(caught.value)) < 400
    await assert_untouched(service)


async def test_plan_request_with_non_string_keys(service: MigrationService) -> None:
    with pytest.raises(ConfigError, match=r"^plan: parameter names must be strings, got 1$"):
        await service.plan({1: "x", **plan_for()})  # type: ignore[dict-item]
    await assert_untouched(service)


async def test_malformed_requests_never_kill_the_supervisor(service: MigrationService) -> None:
    """Requests that bypass the service's checks (fields of the wrong type) are refused
    by the supervisor itself with a typed error; it keeps serving."""
    ref = service._ref
    assert ref is not None
    bad: list[object] = [
        GetStatus(["m"]),  # type: ignore[arg-type]
        GetHistory({"a": 1}),  # type: ignore[arg-type]
        Execute(["m"]),  # type: ignore[arg-type]
        RollBack("m", [1]),  # type: ignore[arg-type]
        Register("not a plan"),  # type: ignore[arg-type]
        Configure(["x"]),  # type: ignore[arg-type]
        Configure({"bandwidth_limit_mbps": math.inf}),
        "not a message",
    ]
    for message in bad:
        with pytest.raises(MigrationRefusal) as refused:
            await ref.ask(message, timeout=5)
        assert refused.value.code in ("invalid_request", "migration_not_found"), message
        assert "\n" not in str(refused.value)
    assert ref.is_alive
    await assert_untouched(service)
    plan = await service.plan(plan_for())
    assert (await service.status(plan.migration_id)).state == "planned"


async def test_bad_requests_during_a_running_migration(service: MigrationService) -> None:
    """Bad requests arrive concurrently with a running (rate-limited) migration: each is
    refused with a typed error, and the migration still completes with every record."""
    plan = await service.plan(plan_for(bandwidth_limit_mbps=4, migration_id="busy"))
    await service.execute(plan.migration_id)
    refusals: list[BaseException] = []
    ref = service._ref
    assert ref is not None

    async def pester(worker: int) -> None:
        for i in range(25):
            call = BAD_CALLS[(worker * 7 + i) % len(BAD_CALLS)][1]
            try:
                await call(service)
            except (ConfigError, UnknownMigration, MigrationError) as exc:
                refusals.append(exc)
            with pytest.raises(InvalidRequest):
                await ref.ask(GetProgress([worker]), timeout=5)  # type: ignore[arg-type]
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as tg:
        for worker in range(4):
            tg.start_soon(pester, worker)
    assert len(refusals) == 100
    assert ref.is_alive
    status = await service.wait("busy", {"completed", "failed"}, timeout=60)
    assert status.state == "completed", status
    metrics = await service.metrics("busy")
    assert metrics.records == 2000  # type: ignore[union-attr]
    assert [s.migration_id for s in await service.statuses()] == ["busy"]
