"""One mistake, one message: the same bad plan input through every boundary that takes it.

Each row is one mistake, written as the Python API / HTTP body / node parameter writes it
and as the ``edge-actors plan`` flags write it. Every boundary must refuse it with the
same text (``ConfigError`` in Python, ``WorkflowError`` at build, HTTP 400 ``invalid_plan``,
exit code 2 from the CLI): the plan shape is defined once (``edge_actors.schema``) and
converted once at each boundary.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp
import anyio
import pytest

from edge_actors.edge import EdgeConfig, EdgeDaemon, Topology, add_migration_routes
from edge_actors.edge._gateway import HttpEdgeGateway
from edge_actors.errors import ConfigError
from edge_actors.migration import MigrationService
from edge_actors.workflow import WorkflowBuilder, WorkflowError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio
TOKEN = "schema-suite-token-0123456789abcdef"  # 128 bits at least: the daemon refuses weaker
BASE: dict[str, Any] = {"source_edge": "edge-w", "target_edge": "edge-e", "workloads": ["app"]}
BASE_FLAGS = ["--source", "edge-w", "--target", "edge-e", "--workload", "app"]


class Mistake(NamedTuple):
    name: str
    params: dict[str, Any]  # replaces BASE's keys (Python API, HTTP body, node parameters)
    flags: list[str] | None  # the same mistake as CLI flags (None: no flag can say it)
    message: str  # the one message every boundary gives


_WORKLOAD = "a workload name (lower-case letters, digits, '.', '_', '-'; up to 63 characters"
_EDGE = "an edge name (letters, digits, '.', '_', '-'; up to 63 characters)"

MISTAKES = [
    Mistake(
        "workload name",
        {"workloads": ["Bad Name"]},
        ["--source", "edge-w", "--target", "edge-e", "--workload", "Bad Name"],
        f"workloads: expected {_WORKLOAD}",
    ),
    Mistake(
        "edge name",
        {"target_edge": "edge e!"},
        ["--source", "edge-w", "--target", "edge e!", "--workload", "app"],
        f"target_edge: expected {_EDGE}, got 'edge e!'",
    ),
    Mistake(
        "migration id",
        {"migration_id": "-bad id"},
        None,
        "migration_id: expected a migration id (letters, digits, '.', '_', '-'; up to 64 "
        "characters, starting with a letter or digit), got '-bad id'",
    ),
    Mistake(
        "negative duration",
        {"checkpoint_interval": -5},
        [*BASE_FLAGS, "--checkpoint-interval", "-5"],
        "checkpoint_interval: -5.0 is not a finite non-negative number",
    ),
    Mistake(
        "ill-typed duration",
        {"constraints": {"max_downtime": "soon"}},
        [*BASE_FLAGS, "--constraint", "max_downtime=soon"],
        "constraints.max_downtime: cannot parse 'soon' (expected a number with a unit)",
    ),
    Mistake(
        "size unit",
        {"constraints": {"delta_threshold": "10XB"}},
        [*BASE_FLAGS, "--constraint", "delta_threshold=10XB"],
        "constraints.delta_threshold: unknown size unit 'XB' in '10XB'",
    ),
    Mistake(
        "unknown strategy",
        {"strategy": "teleport"},
        [*BASE_FLAGS, "--strategy", "teleport"],
        "strategy: expected one of live, staged, bulk, incremental, emergency, got 'teleport'",
    ),
    Mistake(
        "constraints key",
        {"constraints": {"max_dowtime": "1s"}},
        [*BASE_FLAGS, "--constraint", "max_dowtime=1s"],
        "constraints.max_dowtime: unknown constraint 'max_dowtime'",
    ),
    Mistake(
        "priority range",
        {"priority": 11},
        [*BASE_FLAGS, "--priority", "11"],
        "priority: expected an integer 1..10, got 11",
    ),
    Mistake(
        "batch size",
        {"sync_batch_size": 0},
        [*BASE_FLAGS, "--batch-size", "0"],
        "sync_batch_size: expected an integer 1..1000000, got 0",
    ),
    Mistake(
        "bandwidth",
        {"bandwidth_limit_mbps": 0},
        [*BASE_FLAGS, "--bandwidth-mbps", "0"],
        "bandwidth_limit_mbps: must be greater than zero, got 0.0",
    ),
    Mistake(
        "same edge twice",
        {"target_edge": "edge-w"},
        ["--source", "edge-w", "--target", "edge-w", "--workload", "app"],
        "target_edge: must differ from source_edge (both are 'edge-w')",
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Boundaries(NamedTuple):
    service: MigrationService
    url: str


@pytest.fixture
async def boundaries(tmp_path: Path) -> AsyncIterator[Boundaries]:
    """A real supervisor daemon: ``MigrationService`` with its admin routes mounted."""
    async with (
        HttpEdgeGateway(Topology({})) as gateway,
        MigrationService(gateway, tmp_path / "sup") as service,
    ):
        config = EdgeConfig(
            name="edge-sup",
            data_dir=str(tmp_path / "edge-sup"),
            cluster_token=TOKEN,
            shutdown_timeout_s=2.0,
        )
        routes = functools.partial(add_migration_routes, service=service)
        async with EdgeDaemon(config, extra_routes=routes) as daemon:
            yield Boundaries(service, daemon.url)


async def _python(service: MigrationService, params: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        await service.plan({**BASE, **params})
    return str(caught.value)


def _node(params: dict[str, Any]) -> str:
    builder = WorkflowBuilder()
    builder.add_node("EdgeMigrationNode", "mig", {"operation": "plan_migration", **BASE, **params})
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    return str(caught.value)


async def _http(url: str, params: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/admin/migrations", json={**BASE, **params}, headers=headers) as resp,
    ):
        body = await resp.json()
        assert (resp.status, body["error"]) == (400, "invalid_plan"), body
        message: str = body["message"]
        return message


async def _cli(url: str, flags: list[str]) -> str:
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "edge_actors.cli", "plan", *flags],
            check=False,
            env={**os.environ, "EDGE_ACTORS_DAEMON": url, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN},
        )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    return err


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
async def test_the_same_mistake_gets_the_same_message_everywhere(
    boundaries: Boundaries, mistake: Mistake
) -> None:
    python = await _python(boundaries.service, mistake.params)
    assert python.startswith(mistake.message), python
    node = _node(mistake.params)
    assert python in node, (python, node)
    http = await _http(boundaries.url, mistake.params)
    assert http == python
    if mistake.flags is not None:
        cli = await _cli(boundaries.url, mistake.flags)
        assert python in cli, (python, cli)


async def test_a_flag_given_as_text_is_refused_not_taken_for_true(boundaries: Boundaries) -> None:
    """``"execute": "no"`` in the admin body once ran the plan (``bool("no")`` is true)."""
    message = await _http(boundaries.url, {"execute": "no"})
    assert message == "execute: expected true or false, got 'no'"
    node = WorkflowBuilder()
    node.add_node(
        "EdgeMigrationNode", "mig", {"operation": "execute_migration", "migration_id": "m1",
                                     "auto_rollback": "no"}
    )  # fmt: skip
    with pytest.raises(WorkflowError, match="auto_rollback: expected true or false, got 'no'"):
        node.build()
    assert await boundaries.service.active() == []


async def test_configure_and_plan_give_the_same_message(boundaries: Boundaries) -> None:
    """``start_migrator`` / ``configure`` defaults follow the plan's rules, word for word."""
    for params in ({"sync_batch_size": 0}, {"enable_compression": "yes"}):
        plan = await _python(boundaries.service, params)
        with pytest.raises(ConfigError) as caught:
            await boundaries.service.configure(**params)
        assert str(caught.value) == plan
