"""``plan|migrate|status|list|pause|resume|rollback`` against subprocess daemons, end to end.

``edge-west`` hosts the migration supervisor (``daemon --supervisor --topology``) and is
the source edge; ``edge-east`` is a plain daemon, the target.
"""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient

from .conftest import TOKEN, daemon, run_cli, seed, write_topology

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def _state(env: dict[str, str], mid: str) -> str:
    result = await run_cli("status", mid, "--json", **env)
    assert result.code == 0, result.err
    state: str = json.loads(result.out)["status"]["state"]
    return state


async def _wait_state(env: dict[str, str], mid: str, states: set[str]) -> str:
    with anyio.fail_after(30):
        while (state := await _state(env, mid)) not in states:
            await anyio.sleep(0.1)
    return state


async def test_commands_end_to_end(tmp_path: Path) -> None:
    async with daemon(tmp_path, "edge-east") as (_, east):
        topology = write_topology(tmp_path / "topology.toml", {"edge-east": east})
        async with daemon(tmp_path, "edge-west", "--supervisor", "--topology", str(topology)) as (
            west_proc,
            west,
        ):
            env = {"EDGE_ACTORS_DAEMON": west, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN}
            slow_digest = await seed(west, "orders", 1500, 1024)
            fast_digest = await seed(west, "cache", 400, 256)

            # plan (--json: the full plan) and list
            plan = await run_cli(
                "plan", "--source", "edge-west", "--target", "edge-east",
                "--workload", "orders", "--bandwidth-mbps", "1", "--batch-size", "100",
                "--constraint", "max_downtime=300ms", "--checkpoint-interval", "0.2",
                "--json", **env,
            )  # fmt: skip
            assert plan.code == 0, plan.err
            planned = json.loads(plan.out)
            mid = planned["migration_id"]
            assert planned["workloads"] == ["orders"]
            assert planned["constraints"]["max_downtime_s"] == pytest.approx(0.3)
            assert planned["bandwidth_bps"] == pytest.approx(1e6)
            listing = await run_cli("list", **env)
            assert listing.code == 0
            assert mid in listing.out
            assert "planned" in listing.out
            assert "edge-west -> edge-east" in listing.out

            # run it detached, pause mid-sync, resume, roll back
            started = await run_cli("migrate", mid, "--detach", **env)
            assert started.code == 0, started.err
            assert await _wait_state(env, mid, {"sync"}) == "sync"
            paused = await run_cli("pause", mid, **env)
            assert paused.code == 0, paused.err
            assert f"migration {mid}: paused" in paused.out
            status = await run_cli("status", mid, **env)
            assert status.code == 0
            assert "paused" in status.out
            assert "progress: " in status.out
            assert "pauses: 1" in status.out
            resumed = await run_cli("resume", mid, "--json", **env)
            assert resumed.code == 0, resumed.err
            assert json.loads(resumed.out)["state"] in {"queued", "sync", "pre_sync", "planning"}
            assert await _wait_state(env, mid, {"sync"}) == "sync"
            rolled = await run_cli("rollback", mid, **env)
            assert rolled.code == 0, rolled.err
            assert f"migration {mid}: rolled_back" in rolled.out
            async with AdminClient(west, TOKEN) as admin:
                info = await admin.workload("orders")
                assert (info.status, info.digest) == ("active", slow_digest)
            async with AdminClient(east, TOKEN) as admin:
                assert "orders" not in {w.name for w in await admin.workloads()}

            # migrate with flags: progress lines, final report, exit 0
            migrated = await run_cli(
                "migrate", "--source", "edge-west", "--target", "edge-east",
                "--workload", "cache", "--strategy", "live", "--priority", "7", **env,
            )  # fmt: skip
            assert migrated.code == 0, migrated.err
            out = migrated.out
            assert "executing" in out
            assert "records moved: 400" in out
            assert "bytes on the wire: " in out
            assert "downtime (write hold): cache " in out
            assert ": completed" in out
            async with AdminClient(east, TOKEN) as admin:
                info = await admin.workload("cache")
                assert (info.status, info.digest) == ("active", fast_digest)
            async with EdgeClient(west, token=TOKEN) as client:  # old edge redirects to the new one
                assert (await client.info("cache")).digest == fast_digest

            # list --all keeps history; list shows only active ones
            everything = await run_cli("list", "--all", "--json", **env)
            states = {
                m["migration_id"]: m["state"] for m in json.loads(everything.out)["migrations"]
            }
            assert states[mid] == "rolled_back"
            assert sorted(states.values()) == ["completed", "rolled_back"]
            active = await run_cli("list", **env)
            assert active.out.strip() == "no active migrations"

            # errors: unknown id, illegal transition, bad flags, daemon without supervisor
            unknown = await run_cli("status", "mig-nope", **env)
            assert unknown.code == 1
            assert unknown.err.strip() == (
                "edge-actors status: error: migration_not_found: unknown migration 'mig-nope'"
            )
            illegal = await run_cli("resume", mid, **env)
            assert illegal.code == 1
            assert "illegal_transition" in illegal.err
            assert illegal.err.count("\n") == 1
            bad = await run_cli(
                "plan", "--source", "edge-west", "--target", "edge-east", "--workload",
                "cache", "--constraint", "max_downtime=soon", **env,
            )  # fmt: skip
            assert bad.code == 2
            assert bad.err.count("\n") == 1
            assert "constraints.max_downtime" in bad.err
            bad = await run_cli(
                "plan", "--source", "edge-west", "--target", "edge-east", "--workload",
                "cache", "--strategy", "teleport", **env,
            )  # fmt: skip
            assert bad.code == 2
            assert bad.err.count("\n") == 1
            assert "teleport" in bad.err
            bad = await run_cli(
                "plan", "--source", "edge-west", "--target", "edge-nowhere", "--workload",
                "cache", **env,
            )  # fmt: skip
            assert bad.code == 1
            assert "edge-nowhere" in bad.err
            plain = await run_cli("list", "--daemon", east, EDGE_ACTORS_CLUSTER_TOKEN=TOKEN)
            assert plain.code == 1
            assert "no migration supervisor" in plain.err
            wrong = await run_cli(
                "list",
                "--daemon",
                west,
                EDGE_ACTORS_CLUSTER_TOKEN="wrong-token-0123456789abcdefghij",
            )
            assert wrong.code == 1
            assert "refused the cluster token" in wrong.err

            west_proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                assert await west_proc.wait() == 0


async def test_flag_errors_without_a_daemon() -> None:
    missing = await run_cli("plan", "--source", "a", "--target", "b")
    assert missing.code == 2
    assert missing.err.count("\n") == 1
    assert "--workload" in missing.err
    no_daemon = await run_cli("list")
    assert no_daemon.code == 2
    assert no_daemon.err.strip() == (
        "edge-actors list: error: no daemon: give --daemon URL or set EDGE_ACTORS_DAEMON"
    )
    malformed = await run_cli(
        "plan", "--daemon", "http://127.0.0.1:9", "--source", "a",
        "--target", "b", "--workload", "w", "--constraint", "max_downtime",
        EDGE_ACTORS_CLUSTER_TOKEN=TOKEN,
    )  # fmt: skip
    assert malformed.code == 2
    assert "KEY=VALUE" in malformed.err
    unreachable = await run_cli(
        "status", "x", "--daemon", "http://127.0.0.1:9", EDGE_ACTORS_CLUSTER_TOKEN=TOKEN
    )
    assert unreachable.code == 1
    assert "cannot reach the daemon at http://127.0.0.1:9" in unreachable.err
    assert unreachable.err.count("\n") == 1
