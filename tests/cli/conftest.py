"""Helpers of the CLI tests: daemons and commands as real subprocesses."""

from __future__ import annotations

import os
import random
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NamedTuple

import anyio

from edge_actors.edge import AdminClient, EdgeClient
from support.daemons import daemon_subprocess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import Process

TOKEN = "cli-suite-token-0123456789abcdefghij"


class Result(NamedTuple):
    """A finished CLI command."""

    code: int
    out: str
    err: str


def cli_env(**extra: str) -> dict[str, str]:
    """A clean environment for CLI subprocesses (no daemon/token from the caller)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("EDGE_ACTORS_DAEMON", "EDGE_ACTORS_CLUSTER_TOKEN")
    }
    env.update(extra)
    return env


async def run_cli(*args: str, timeout: float = 60.0, **env: str) -> Result:
    """Run ``python -m edge_actors.cli ARGS`` and return its exit code and output."""
    with anyio.fail_after(timeout):
        done = await anyio.run_process(
            [sys.executable, "-m", "edge_actors.cli", *args], check=False, env=cli_env(**env)
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


@asynccontextmanager
async def daemon(
    tmp_path: Path, name: str, *extra: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Process, str]]:
    """Run ``edge-actors daemon`` as a subprocess; yield it and its URL (killed at exit).

    ``env`` adds environment variables (a test hook of ``edge/_test_hooks.py``).
    """
    with (tmp_path / f"{name}.stderr").open("ab") as stderr:
        args = [
            sys.executable,
            "-m",
            "edge_actors.cli",
            "daemon",
            "--name",
            name,
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / name),
            *extra,
        ]
        environment = cli_env(EDGE_ACTORS_CLUSTER_TOKEN=TOKEN, **(env or {}))
        async with daemon_subprocess(args, env=environment, stderr=stderr) as running:
            yield running


def write_topology(path: Path, edges: dict[str, str]) -> Path:
    """Write a TOML topology of ``name -> url`` (every edge with :data:`TOKEN`)."""
    lines = []
    for name, url in edges.items():
        lines += [f"[edges.{name}]", f'url = "{url}"', f'token = "{TOKEN}"', ""]
    path.write_text("\n".join(lines))
    return path


async def seed(url: str, workload: str, records: int, value_bytes: int) -> str:
    """Create ``workload`` on the edge at ``url``, fill it, return its digest."""
    async with AdminClient(url, TOKEN) as admin:
        await admin.create_workload(workload)
        async with EdgeClient(url, token=TOKEN) as client:
            rng = random.Random(workload)
            for start in range(0, records, 500):
                ops: list[tuple[str, bytes | None]] = [
                    (f"k{i:06d}", rng.randbytes(value_bytes))
                    for i in range(start, min(records, start + 500))
                ]
                await client.batch(workload, ops)
        return (await admin.workload(workload)).digest
