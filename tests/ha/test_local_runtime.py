"""``LocalRuntime`` beside supervisor replicas: through them, or alone as the lease holder.

Real processes and a real PostgreSQL journal: two edges and two supervisor replicas run
as ``edge-actors daemon`` subprocesses (:mod:`._failover`'s cluster, ``sup-a`` leading).

- With ``EDGE_ACTORS_SUPERVISOR`` naming the *follower*, a script's ``LocalRuntime``
  plans and runs a live migration to completion (digest checked on the target), and
  pauses and resumes one, all through the follower, forwarded to the leader; nothing is
  journaled by the runtime itself.
- A ``LocalRuntime`` whose journal is the replicas' database while a leader is alive is
  refused with an error saying to set ``EDGE_ACTORS_SUPERVISOR``, and drives nothing.
- Alone on a PostgreSQL journal, a ``LocalRuntime`` takes the lease and works; a replica
  started meanwhile stays a follower until the runtime's engine shuts down (it resigns).
- A runtime that loses its lease stops and says so.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import anyio
import asyncpg
import pytest

from edge_actors.edge import AdminClient, EdgeEndpoint, EdgeHTTPError, MigrationClient
from edge_actors.errors import ConfigError
from edge_actors.migration import IllegalTransition, UnknownEdgeName, UnknownMigration
from edge_actors.runtime import (
    EdgeEnvironment,
    Engine,
    EnvironmentConfig,
    LocalRuntime,
    configure_environment_async,
)
from edge_actors.runtime._remote_supervisor import RemoteSupervisor
from edge_actors.workflow import WorkflowBuilder
from faults._harness import TOKEN, WORKLOAD, Daemon, seed_workload
from support.state_files import on_disk

from ._failover import ha_cluster, supervisor_status, wait_leader

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PLAN: dict[str, Any] = {
    "operation": "plan_migration",
    "source_edge": "edge-west",
    "target_edge": "edge-east",
    "workloads": [WORKLOAD],
    "strategy": "live",
    "constraints": {"max_downtime": "300ms"},
    "sync_batch_size": 100,
    "checkpoint_interval": 0.2,
}

REQUEST = {k: v for k, v in PLAN.items() if k != "operation"}

SCRIPT = """
import json, sys
from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder

builder = WorkflowBuilder()
builder.add_node("EdgeMigrationNode", "plan", json.loads(sys.argv[1]))
builder.add_node("EdgeMigrationNode", "exec", {"operation": "execute_migration", "wait": True})
builder.add_node("EdgeMigrationNode", "history", {"operation": "get_history"})
builder.add_connection("plan", "status", "exec", "input")
builder.add_connection("exec", "result", "history", "migration_id")
results, _ = LocalRuntime().execute(builder.build())
print(json.dumps(results, default=str))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_ACTORS_")}
    return {**env, **extra}


async def _script(plan: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run :data:`SCRIPT` (plan, execute to the end, history) in its own process."""
    done = await anyio.run_process(
        [sys.executable, "-c", SCRIPT, json.dumps(plan)], env=env, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    results: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return results


async def _digest(url: str) -> tuple[str, str]:
    async with AdminClient(url, TOKEN) as admin:
        info = await admin.workload(WORKLOAD)
    return info.status, info.digest


async def test_a_script_runs_a_migration_through_a_follower(tmp_path: Path, dsn: str) -> None:
    async with ha_cluster(tmp_path, dsn, pause_cutover=False) as cluster:
        leader, follower = cluster.replicas
        await seed_workload(cluster.west.local_url, 600, seed=5)
        _, source_digest = await _digest(cluster.west.url)
        data_dir = tmp_path / "script-data"
        env = _env(
            EDGE_ACTORS_SUPERVISOR=follower.url,
            EDGE_ACTORS_CLUSTER_TOKEN=TOKEN,
            EDGE_ACTORS_DATA_DIR=str(data_dir),
        )
        results = await _script(PLAN, env)

        assert results["plan"]["status"] == "success", results["plan"]
        assert results["exec"]["state"] == "completed", results["exec"]
        details = [e["detail"] for e in results["history"]["history"]]
        assert "driven by supervisor leader sup-a (epoch 1)" in details
        assert await _digest(cluster.east.url) == ("active", source_digest)
        role = await supervisor_status(follower)
        assert role is not None
        assert (role.role, role.epoch, role.leader) == ("follower", 1, leader.url)
        # No embedded supervisor: the script journaled nothing and started no edge.
        assert not (data_dir / "migrations").exists()
        assert not (data_dir / "edges").exists()


async def test_pause_and_resume_through_a_follower(tmp_path: Path, dsn: str) -> None:
    async with ha_cluster(tmp_path, dsn, pause_cutover=False) as cluster:
        leader, follower = cluster.replicas
        await seed_workload(cluster.west.local_url, 3000, seed=6)
        engine = Engine()
        try:
            config = EnvironmentConfig(supervisor=follower.url, cluster_token=TOKEN)
            env = await configure_environment_async(config, engine=engine)
            assert env.remote
            runtime = LocalRuntime(engine)

            async def run(node: dict[str, Any]) -> dict[str, Any]:
                builder = WorkflowBuilder()
                builder.add_node("EdgeMigrationNode", "op", node)
                results, _ = await runtime.execute_async(builder.build())
                return results["op"]

            # 3,000 records of 1 KiB at 8 Mbps: about 3 s of sync, ample for the pause that
            # follows the execute at once (the asserts below say it landed before the end).
            planned = await run({**PLAN, "bandwidth_limit_mbps": 8})
            mid = planned["migration_id"]
            await run({"operation": "execute_migration", "migration_id": mid, "wait": False})
            paused = await run({"operation": "pause_migration", "migration_id": mid})
            assert (paused["status"], paused["state"]) == ("success", "paused"), paused
            async with MigrationClient(leader.url, TOKEN) as on_leader:
                assert (await on_leader.status(mid)).state == "paused"
            resumed = await run({"operation": "resume_migration", "migration_id": mid})
            assert resumed["status"] == "success", resumed
            with anyio.fail_after(90):
                while True:
                    progress = await run({"operation": "get_progress", "migration_id": mid})
                    if progress["progress"]["state"] in ("completed", "failed"):
                        break
                    await anyio.sleep(0.2)
            assert progress["progress"]["state"] == "completed", progress
            history = await run({"operation": "get_history", "migration_id": mid})
            states = [e["to_state"] for e in history["history"]]
            assert "paused" in states
            assert states[-1] == "completed"
            unknown = await run({"operation": "pause_migration", "migration_id": "nope"})
            assert unknown["status"] == "error"
            assert "nope" in unknown["error"]
            # The daemon's refusals come back as the embedded path's classes.
            async with RemoteSupervisor(follower.url, TOKEN) as remote:
                with pytest.raises(UnknownMigration, match="nope"):
                    await remote.status("nope")
                with pytest.raises(IllegalTransition, match="completed"):
                    await remote.resume(mid)  # forwarded: the leader refuses it
                with pytest.raises(ConfigError, match="strategy"):
                    await remote.plan({**REQUEST, "strategy": "teleport"})
                with pytest.raises(UnknownEdgeName, match="edge-nowhere"):
                    await remote.plan({**REQUEST, "target_edge": "edge-nowhere"})
        finally:
            await anyio.to_thread.run_sync(engine.shutdown)


async def test_a_journal_runtime_beside_a_live_leader_is_refused(tmp_path: Path, dsn: str) -> None:
    async with ha_cluster(tmp_path, dsn, pause_cutover=False) as cluster:
        leader, _ = cluster.replicas
        await seed_workload(cluster.west.local_url, 100, seed=7)
        env = _env(
            EDGE_ACTORS_JOURNAL=dsn,
            EDGE_ACTORS_TOPOLOGY=str(tmp_path / "topology.toml"),
            EDGE_ACTORS_DATA_DIR=str(tmp_path / "script-data"),
        )
        results = await _script(PLAN, env)

        plan = results["plan"]
        assert plan["status"] == "error", plan
        assert "EDGE_ACTORS_SUPERVISOR" in plan["error"]
        assert "sup-a" in plan["error"]
        print(plan["error"])  # shown with -s
        assert results["exec"]["status"] != "success"
        role = await supervisor_status(leader)
        assert role is not None
        assert (role.role, role.epoch) == ("leader", 1)
        async with MigrationClient(leader.url, TOKEN) as client:
            assert await client.statuses() == []
        async with AdminClient(cluster.west.url, TOKEN) as admin:
            source = await admin.workload(WORKLOAD)
        assert (source.status, source.records, source.epoch) == ("active", 100, 0)
        async with AdminClient(cluster.east.url, TOKEN) as admin:
            assert WORKLOAD not in [w.name for w in await admin.workloads()]


async def _edges(root: Path) -> tuple[Daemon, Daemon, dict[str, EdgeEndpoint]]:
    west, east = Daemon(root, "edge-west"), Daemon(root, "edge-east")
    await west.start()
    await east.start()
    return west, east, {d.name: EdgeEndpoint(d.url, TOKEN) for d in (west, east)}


async def test_a_runtime_alone_takes_the_lease_and_a_replica_follows(
    tmp_path: Path, dsn: str
) -> None:
    west, east, topology = await _edges(tmp_path)
    replica = None
    engine = Engine()
    try:
        await seed_workload(west.local_url, 400, seed=8)
        _, source_digest = await _digest(west.url)
        config = EnvironmentConfig(topology=topology, journal=dsn)
        env: EdgeEnvironment = await configure_environment_async(config, engine=engine)
        assert env.lease is not None
        assert env.lease.epoch == 1
        builder = WorkflowBuilder()
        builder.add_node("EdgeMigrationNode", "plan", PLAN)
        builder.add_node(
            "EdgeMigrationNode", "exec", {"operation": "execute_migration", "wait": True}
        )
        builder.add_connection("plan", "status", "exec", "input")
        results, _ = await LocalRuntime(engine).execute_async(builder.build())
        assert results["exec"]["state"] == "completed", results["exec"]
        assert await _digest(east.url) == ("active", source_digest)
        mid = results["plan"]["migration_id"]
        for edge in (west, east):  # its commands carried its leadership epoch
            fence = on_disk(edge.data_dir / "leader_epoch.state")
            assert fence["epoch"] == 1
        history = await engine.call_async(env.migration.history, mid)  # on the engine's loop
        assert f"driven by supervisor leader {env.lease.holder_id} (epoch 1)" in [
            e.detail for e in history
        ]

        topology_file = tmp_path / "topology.toml"
        entries = [
            f'[edges.{n}]\nurl = "{e.url}"\ntoken = "{TOKEN}"\n' for n, e in topology.items()
        ]
        topology_file.write_text("\n".join(entries))
        replica = Daemon(
            tmp_path, "sup-b", "--supervisor", "--topology", str(topology_file), "--journal", dsn
        )
        await replica.start()
        renewals = env.lease.elector.renewals
        with anyio.fail_after(30):  # it read the lease: the runtime leads
            while (role := await supervisor_status(replica)) is None or role.epoch == 0:
                await anyio.sleep(0.05)
        assert (role.role, role.epoch) == ("follower", 1)
        assert role.leader is not None
        assert role.leader.startswith("embedded://")
        async with MigrationClient(replica.url, TOKEN) as via_replica:
            with pytest.raises(EdgeHTTPError) as refused:  # nowhere to forward it
                await via_replica.pause(mid)
        assert (refused.value.status, refused.value.code) == (503, "no_leader")
        assert "embedded://" in refused.value.message
        # A full lease period of renewals later the replica still follows.
        lease_s = env.lease.elector.settings.lease_s
        with anyio.fail_after(30):
            while env.lease.elector.renewals < renewals + lease_s + 1:
                await anyio.sleep(0.05)
        role = await supervisor_status(replica)
        assert role is not None
        assert (role.role, role.epoch) == ("follower", 1)
        active = await engine.call_async(env.migration.active)
        assert active == []

        await anyio.to_thread.run_sync(engine.shutdown)  # resigns: the replica takes over
        await wait_leader(replica, timeout=30)
        role = await supervisor_status(replica)
        assert role is not None
        assert (role.role, role.epoch) == ("leader", 2)
    finally:
        await anyio.to_thread.run_sync(engine.shutdown)
        for daemon in (west, east, replica):
            if daemon is not None:
                await daemon.kill()


async def test_a_runtime_that_loses_its_lease_stops(tmp_path: Path, dsn: str) -> None:
    engine = Engine()
    try:
        config = EnvironmentConfig(journal=dsn, data_dir=str(tmp_path / "data"))
        env = await configure_environment_async(config, engine=engine)
        assert env.lease is not None
        runtime = LocalRuntime(engine)
        builder = WorkflowBuilder()
        builder.add_node("EdgeMigrationNode", "active", {"operation": "get_active_migrations"})
        workflow = builder.build()
        results, _ = await runtime.execute_async(workflow)
        assert results["active"]["status"] == "success", results["active"]

        conn = await asyncpg.connect(dsn)
        try:  # another supervisor takes the lease (a new epoch)
            await conn.execute(
                "UPDATE supervisor_leader SET holder_id = 'thief', epoch = epoch + 1, "
                "expires_at = now() + interval '60 seconds'"
            )
        finally:
            await conn.close()
        with anyio.fail_after(30):
            while env.lease.lost is None:
                await anyio.sleep(0.05)
        results, _ = await runtime.execute_async(workflow)
        assert results["active"]["status"] == "error"
        assert "lost its leadership lease" in results["active"]["error"]
        assert "EDGE_ACTORS_SUPERVISOR" in results["active"]["error"]
    finally:
        await anyio.to_thread.run_sync(engine.shutdown)
