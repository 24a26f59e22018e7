"""The C heap's free memory goes back to the system (``store/_heap.py``).

A real daemon subprocess (a fresh process, so no other test's heap is in the figures):
writes to several stores run in the stores' worker threads, whose malloc arenas keep
what they freed; the registry's housekeeping trims the heap once the process grew, and
says so on ``/metrics`` (``edge_heap_trims_total``, ``edge_heap_released_bytes_total``).
"""

from __future__ import annotations

import random
import re
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient
from edge_actors.store._budget import DEFAULT_MAX_IDLE
from edge_actors.store._heap import HeapTrimmer, anonymous_bytes
from support.daemons import daemon_subprocess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

TOKEN = "heap-test-token-0123456789abcdefghij"
_COUNTER = r"^{}_total\{{edge=\"edge-heap\"\}} ([0-9.e+]+)$"


def _counter(text: str, name: str) -> float:
    match = re.search(_COUNTER.format(name), text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@asynccontextmanager
async def _daemon(tmp_path: Path) -> AsyncIterator[tuple[AdminClient, EdgeClient]]:
    """A real ``edge-actors daemon`` subprocess, with an admin and a data client."""
    args = [sys.executable, "-m", "edge_actors.cli", "daemon", "--name", "edge-heap"]
    args += ["--port", "0", "--data-dir", str(tmp_path / "edge-heap")]
    env = {"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
    with (tmp_path / "daemon.stderr").open("ab") as stderr:
        async with (
            daemon_subprocess(args, env=env, stderr=stderr, name="edge-heap") as (_, url),
            AdminClient(url, TOKEN) as admin,
            EdgeClient(url, token=TOKEN) as client,
        ):
            yield admin, client


async def test_the_daemon_gives_freed_store_memory_back(tmp_path: Path) -> None:
    async with _daemon(tmp_path) as (admin, client):
        rng = random.Random(7)
        for index in range(8):  # 8 stores x 4 MB of incompressible values
            name = f"svc{index}"
            await admin.create_workload(name)
            for start in range(0, 2000, 500):
                ops = [(f"k{i:05d}", rng.randbytes(2048)) for i in range(start, start + 500)]
                await client.batch(name, ops)
        with anyio.fail_after(30):
            while _counter(await admin.metrics_text(), "edge_heap_trims") < 1:
                await anyio.sleep(0.2)  # polling the daemon's counter, not a time window
        text = await admin.metrics_text()
    assert _counter(text, "edge_heap_trims") >= 1
    assert _counter(text, "edge_heap_released_bytes") > 0


async def test_no_trim_until_the_process_has_grown() -> None:
    trimmer = HeapTrimmer(growth_bytes=2**40)
    assert not trimmer.maybe_trim()
    assert trimmer.trims == 0


async def test_a_trim_is_counted_with_what_it_released() -> None:
    if anonymous_bytes() is None:
        pytest.skip("no /proc/self/statm on this platform")
    trimmer = HeapTrimmer(growth_bytes=0, min_interval_s=3600.0)
    assert trimmer.available
    assert trimmer.maybe_trim()
    assert trimmer.trims == 1
    assert not trimmer.maybe_trim()  # the interval has not passed
    assert trimmer.trims == 1


def _gauge(text: str, state: str) -> float:
    pattern = rf'^edge_store_connections\{{edge="edge-heap",state="{state}"\}} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.MULTILINE)
    assert match is not None, text
    return float(match.group(1))


async def test_the_daemon_keeps_few_idle_connections_after_touching_many_stores(
    tmp_path: Path,
) -> None:
    async with _daemon(tmp_path) as (admin, client):
        names = [f"svc{index:03d}" for index in range(DEFAULT_MAX_IDLE + 36)]
        for name in names:
            await admin.create_workload(name)
            await client.put(name, "k", b"v")
            assert await client.get(name, "k") == b"v"
        # Within the 60 s idle time none is closed for age: only ``max_idle`` does it
        # (the housekeeping runs about once a second).
        with anyio.fail_after(30):
            while _gauge(await admin.metrics_text(), "idle") > DEFAULT_MAX_IDLE:
                await anyio.sleep(0.2)  # polling the daemon's gauge, not a time window
        assert await client.get(names[0], "k") == b"v"  # a closed one reopens
