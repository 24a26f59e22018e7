"""``edge-actors health`` against a live daemon and a dead edge (subprocesses)."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import pytest

from .conftest import TOKEN, daemon, run_cli, seed, write_topology

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def _dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_health_live_and_dead_edges(tmp_path: Path) -> None:
    async with daemon(tmp_path, "edge-live", "--max-bytes", "1MB") as (_, live):
        await seed(live, "api-service", 100, 1000)
        topology = write_topology(
            tmp_path / "t.toml", {"edge-live": live, "edge-dead": _dead_url()}
        )

        both = await run_cli("health", "--topology", str(topology), "--timeout", "2")
        assert both.code == 1  # one edge is unreachable
        live_line, dead_line = both.out.strip().splitlines()
        assert live_line.startswith("edge-live: healthy | latency ")
        assert "workloads 1/1000" in live_line  # the default max_workloads
        assert "of 976.6 KiB" in live_line
        assert "requests " in live_line
        assert "held writes 0" in live_line
        assert dead_line.startswith("edge-dead: unreachable (")

        one = await run_cli("health", "--topology", str(topology), "edge-live", "--json")
        assert one.code == 0, one.err
        report = json.loads(one.out)["edges"]["edge-live"]
        assert report["status"] == "healthy"
        assert report["workloads"] == 1
        assert report["capacity"]["used_bytes"] > 100_000
        assert report["capacity"]["max_bytes"] == 1_000_000

        direct = await run_cli("health", "--daemon", live, EDGE_ACTORS_CLUSTER_TOKEN=TOKEN)
        assert direct.code == 0, direct.err
        assert direct.out.startswith("edge-live: healthy | ")  # labelled by its name

        refused = await run_cli(
            "health", "--daemon", live, EDGE_ACTORS_CLUSTER_TOKEN="wrong-token-0123456789abcdefghij"
        )
        assert refused.code == 1
        assert refused.out.startswith(f"{live}: unhealthy (HTTP 401")  # no name: its URL


async def test_health_flag_errors(tmp_path: Path) -> None:
    nothing = await run_cli("health")
    assert nothing.code == 2
    assert nothing.err.count("\n") == 1
    topology = write_topology(tmp_path / "t.toml", {"edge-a": "http://127.0.0.1:9"})
    unknown = await run_cli("health", "--topology", str(topology), "edge-b")
    assert unknown.code == 2
    assert unknown.err.strip() == (
        "edge-actors health: error: unknown edge(s) edge-b (known edges: edge-a)"
    )
