"""The CLI on paused and finished migrations, checkpoints, workloads and Ctrl-C (subprocesses).

``edge-west`` hosts the migration supervisor and is the source edge; ``edge-east`` is the
target. Workloads are created and seeded with ``edge-actors workload create``.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import anyio
import pytest

from .conftest import TOKEN, Result, cli_env, daemon, run_cli, write_topology

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from anyio.abc import Process

pytestmark = pytest.mark.anyio

_SLOW = (
    "--bandwidth-mbps", "2", "--batch-size", "100", "--checkpoint-interval", "0.2",
    "--no-compression",
)  # fmt: skip
"""About 4 s for 1,500 records of 1 KiB: time to pause or interrupt it mid-sync."""


@asynccontextmanager
async def _edges(tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], Path]]:
    """East and west (west supervises); yields the CLI env and the topology file."""
    async with daemon(tmp_path, "edge-east") as (_, east):
        topology = write_topology(tmp_path / "topology.toml", {"edge-east": east})
        async with daemon(tmp_path, "edge-west", "--supervisor", "--topology", str(topology)) as (
            _,
            west,
        ):
            both = write_topology(tmp_path / "edges.toml", {"edge-east": east, "edge-west": west})
            yield {"EDGE_ACTORS_DAEMON": west, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN}, both


@asynccontextmanager
async def _following(env: dict[str, str], *args: str) -> AsyncIterator[Following]:
    """Run ``edge-actors ARGS`` until it prints a progress line (it is following)."""
    command = [sys.executable, "-m", "edge_actors.cli", *args]
    process = await anyio.open_process(command, env=cli_env(**env))
    async with process:
        assert process.stdout is not None
        out = b""
        with anyio.fail_after(30):
            while b"| round " not in out:
                out += await process.stdout.receive()
        yield Following(process, out.decode())


class Following(NamedTuple):
    """A CLI subprocess that follows a migration, and what it printed so far."""

    process: Process
    out: str

    async def finish(self) -> Result:
        """Wait for its exit (30 s at most); its code, the rest of stdout, all stderr."""
        process = self.process
        assert process.stdout is not None
        assert process.stderr is not None
        with anyio.fail_after(30):
            code = await process.wait()
            out = b"".join([chunk async for chunk in process.stdout])
            err = b"".join([chunk async for chunk in process.stderr])
        return Result(code, self.out + out.decode(), err.decode())


async def _view(env: dict[str, str], mid: str) -> dict[str, dict[str, object]]:
    result = await run_cli("status", mid, "--json", **env)
    assert result.code == 0, result.err
    view: dict[str, dict[str, object]] = json.loads(result.out)
    return view


async def _wait_syncing(env: dict[str, str], mid: str, records: int) -> None:
    with anyio.fail_after(30):
        while True:
            view = await _view(env, mid)
            done = view["progress"]["records_done"]
            assert isinstance(done, int)
            if view["status"]["state"] == "sync" and done >= records:
                # the metrics (asked after the progress) count the running transfer too
                moved = view["metrics"]["records"]
                assert isinstance(moved, int)
                assert moved >= done
                return
            await anyio.sleep(0.1)


async def _concurrently(*calls: Callable[[], Awaitable[Result]]) -> list[Result]:
    """Run independent CLI commands at once (each is a process start of ~0.5 s); their
    results in the order given."""
    results: dict[int, Result] = {}

    async def one(index: int, call: Callable[[], Awaitable[Result]]) -> None:
        results[index] = await call()

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(one, index, call)
    return [results[index] for index in range(len(calls))]


def _progress_figures(out: str) -> tuple[str, str, str]:
    """Records done, bytes done and the tail of the ``progress:`` line of ``status``."""
    line = next(x for x in out.splitlines() if x.startswith("progress: "))
    match = re.search(r"\| ([\d,]+)/[\d,]+ records \| ([^/]+)/", line)
    assert match is not None, line
    return match[1], match[2], line


async def test_paused_and_finished_migrations(tmp_path: Path) -> None:
    async with _edges(tmp_path) as (env, edges):
        created = await run_cli(
            "workload", "create", "orders", "--seed", "1500", "--value-bytes", "1024", **env
        )
        assert created.code == 0, created.err
        assert created.out.startswith("created on edge-west: ")
        assert "orders: active | 1,500 records" in created.out
        again, named = await _concurrently(
            partial(run_cli, "workload", "create", "orders", **env),
            partial(
                run_cli, "workload", "create", "cache", "--edge", "edge-west", "--topology",
                str(edges), "--seed", "10", "--value-bytes", "64", "--json",
            ),
        )  # fmt: skip
        assert again.code == 1
        assert again.err.count("\n") == 1
        assert "orders" in again.err
        assert named.code == 0, named.err
        answer = json.loads(named.out)
        assert (answer["edge"], answer["workload"]["records"]) == ("edge-west", 10)
        listing = await run_cli("workload", "list", **env)
        assert listing.code == 0, listing.err
        assert [line.split(":")[0] for line in listing.out.splitlines()] == ["cache", "orders"]

        started = await run_cli(
            "migrate", "--source", "edge-west", "--target", "edge-east", "--workload", "orders",
            *_SLOW, "--detach", "--json", **env,
        )  # fmt: skip
        assert started.code == 0, started.err
        mid = json.loads(started.out)["migration_id"]
        await _wait_syncing(env, mid, 200)
        async with _following(env, "status", mid, "--watch") as watching:
            paused = await run_cli("pause", mid, **env)
            assert paused.code == 0, paused.err
            # a watch that sees the pause stops: it would wait forever
            stopped = await watching.finish()
        assert stopped.code == 1, stopped
        assert f"migration {mid} is paused in sync" in stopped.err
        assert "progress: paused (sync) | " in stopped.out

        # Read-only commands on the paused migration, all at once.
        *tolds, shown, listed, as_json = await _concurrently(
            partial(run_cli, "migrate", mid, timeout=30, **env),
            partial(run_cli, "status", mid, "--watch", timeout=30, **env),
            partial(run_cli, "status", mid, **env),
            partial(run_cli, "checkpoints", mid, "--last", "3", **env),
            partial(run_cli, "checkpoints", mid, "--json", "--last", "0", **env),
        )
        # migrate and status --watch on a paused migration: say so, how to resume, exit 1
        for told in tolds:
            assert told.code == 1, told
            assert told.err.count("\n") == 1, told.err
            assert f"migration {mid} is paused in sync" in told.err
            assert f"'edge-actors resume {mid}'" in told.err
            assert f"'edge-actors status {mid} --watch'" in told.err
        assert shown.code == 0, shown.err
        assert "progress: paused (sync) | " in shown.out
        assert "ETA" not in shown.out  # a paused migration reaches no end by itself

        # checkpoints lists ids that rollback --checkpoint takes
        assert listed.code == 0, listed.err
        header, *rows, older, hint = listed.out.strip().splitlines()
        assert header.startswith("CHECKPOINT ")
        assert len(rows) == 3
        assert all(row.startswith(f"{mid}-cp") for row in rows)
        assert re.fullmatch(r"\(\d+ older not shown; --last 0 shows all\)", older), older
        assert " pause " in rows[-1]
        assert "orders lsn " in rows[-1]
        assert hint.startswith(f"roll back to one with: edge-actors rollback {mid} --checkpoint ")
        checkpoints = json.loads(as_json.out)["checkpoints"]
        assert checkpoints[-1]["checkpoint_id"] == rows[-1].split()[0]
        syncing = [c for c in checkpoints if c["phase"] == "sync"]
        back = await run_cli("rollback", mid, "--checkpoint", syncing[0]["checkpoint_id"], **env)
        assert back.code == 0, back.err
        assert f"migration {mid}: paused" in back.out

        # a pause is no fault: no warning from any daemon about it
        for name in ("edge-west", "edge-east"):
            warnings = [
                line
                for line in (tmp_path / f"{name}.stderr").read_text().splitlines()
                if "[warning" in line and "signal_received" not in line
            ]
            assert warnings == [], name

        resumed = await run_cli("resume", mid, **env)
        assert resumed.code == 0, resumed.err
        watched = await run_cli("status", mid, "--watch", "--wait-timeout", "60", **env)
        assert watched.code == 0, watched.err
        assert f"migration {mid}: completed" in watched.out
        records, bytes_done, line = _progress_figures(watched.out)
        assert "ETA" not in line
        # the progress line and the metrics report the same records and bytes
        assert f"records moved: {records}\n" in watched.out
        assert f"bytes moved: {bytes_done} (" in watched.out

        # migrate on a finished migration: says so, runs nothing
        done, ended = await _concurrently(
            partial(run_cli, "migrate", mid, **env), partial(run_cli, "checkpoints", mid, **env)
        )
        assert done.code == 0, done.err
        assert done.out.startswith(f"migration {mid} already ended: completed")
        assert "executing" not in done.out
        assert f"records moved: {records}\n" in done.out
        assert ended.code == 0, ended.err
        assert ended.out.strip().splitlines()[-1] == (
            f"(migration {mid} is completed: it cannot be rolled back)"
        )


async def test_workload_flag_errors(tmp_path: Path) -> None:
    nothing = await run_cli("workload", "create", "w")
    assert nothing.code == 2
    assert nothing.err.count("\n") == 1
    assert "--daemon URL" in nothing.err
    no_topology = await run_cli("workload", "create", "w", "--edge", "edge-a")
    assert no_topology.code == 2
    assert "--topology" in no_topology.err
    topology = write_topology(tmp_path / "t.toml", {"edge-a": "http://127.0.0.1:9"})
    unknown = await run_cli("workload", "list", "--edge", "edge-b", "--topology", str(topology))
    assert unknown.code == 2
    assert unknown.err.strip() == (
        "edge-actors workload: error: --edge: unknown edge 'edge-b' (known edges: edge-a)"
    )
    negative = await run_cli(
        "workload", "create", "w", "--daemon", "http://127.0.0.1:9", "--seed", "-1",
        EDGE_ACTORS_CLUSTER_TOKEN=TOKEN,
    )  # fmt: skip
    assert negative.code == 2
    assert "--seed" in negative.err
    down = await run_cli("workload", "create", "w", "--edge", "edge-a", "--topology", str(topology))
    assert down.code == 1
    assert down.err.startswith(
        "edge-actors workload create: error: cannot reach the edge at http://127.0.0.1:9"
    )


async def test_ctrl_c_on_migrate_leaves_it_running(tmp_path: Path) -> None:
    async with _edges(tmp_path) as (env, _):
        created = await run_cli("workload", "create", "orders", "--seed", "1500", **env)
        assert created.code == 0, created.err
        async with _following(
            env, "migrate", "--source", "edge-west", "--target", "edge-east",
            "--workload", "orders", *_SLOW,
        ) as migrating:  # fmt: skip
            mid = re.search(r"migration (\S+) executing", migrating.out)
            assert mid is not None, migrating.out
            migration_id = mid[1]
            migrating.process.send_signal(signal.SIGINT)
            code, _, message = await migrating.finish()
        assert code == 130
        assert message.count("\n") == 1, message
        assert f"migration {migration_id} keeps running on the daemon" in message
        assert f"'edge-actors status {migration_id} --watch'" in message
        assert f"'edge-actors pause {migration_id}'" in message
        view = await _view(env, migration_id)
        assert view["status"]["state"] in {"queued", "sync", "cutover", "validation", "completed"}
        watched = await run_cli("status", migration_id, "--watch", "--wait-timeout", "60", **env)
        assert watched.code == 0, watched.err
