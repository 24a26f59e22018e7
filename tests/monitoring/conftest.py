"""A small real edge server for the monitoring tests (aiohttp on 127.0.0.1).

It serves the daemon's ``GET /admin/health`` contract (docs/architecture.md) and counts
the real data requests it answers, so tests can drive throughput and error rate with real
traffic; it can also be told to answer 500, to be slow, or be stopped. The real
``EdgeDaemon`` cannot be made to fail on purpose, hence this server.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp import web

from edge_actors.monitoring import ProbeTarget

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TOKEN = "test-token-0123456789abcdefghij"


class FakeEdge:
    """A real HTTP server answering the health contract; knobs change how it answers."""

    def __init__(self, name: str, token: str = TOKEN) -> None:
        self.name = name
        self.token = token
        self.requests_total = 0
        self.errors_total = 0
        self.health_status = 200
        self.delay_s = 0.0
        self.max_bytes: int | None = None
        self.used_bytes = 0
        self.max_workloads: int | None = None
        self.used_workloads = 0
        self.uptime_s = 100.0
        self.health_calls = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.router.add_get("/admin/health", self._health)
        app.router.add_get("/v1/ok", self._ok)
        app.router.add_get("/v1/fail", self._fail)
        self._app = app

    @property
    def target(self) -> ProbeTarget:
        return ProbeTarget(name=self.name, url=self.url, token=self.token)

    async def start(self) -> None:
        runner = web.AppRunner(self._app, handler_cancellation=True, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        # Like the daemon, count every request served, the probes included.
        self.requests_total += 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.errors_total += 1
            return web.json_response({"error": "unauthorized"}, status=401)
        self.health_calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.health_status != 200:
            return web.json_response({"error": "boom"}, status=self.health_status)
        free = None if self.max_bytes is None else self.max_bytes - self.used_bytes
        return web.json_response(
            {
                "status": "ok",
                "name": self.name,
                "url": self.url,
                "uptime_s": self.uptime_s,
                "workloads": self.used_workloads,
                "load": {
                    "requests_total": self.requests_total,
                    "errors_total": self.errors_total,
                    "reads_total": self.requests_total,
                    "writes_total": 0,
                    "inflight": 0,
                    "held_writes": 0,
                    "active_transfers": 0,
                },
                "capacity": {
                    "max_bytes": self.max_bytes,
                    "used_bytes": self.used_bytes,
                    "free_bytes": free,
                    "max_workloads": self.max_workloads,
                    "used_workloads": self.used_workloads,
                },
            }
        )

    async def _ok(self, request: web.Request) -> web.Response:
        self.requests_total += 1
        return web.Response(text="ok")

    async def _fail(self, request: web.Request) -> web.Response:
        self.requests_total += 1
        self.errors_total += 1
        return web.Response(status=500, text="fail")


async def send_traffic(url: str, *, ok: int, failed: int) -> None:
    """Send ``ok`` successful and ``failed`` failing real requests to a fake edge."""
    async with aiohttp.ClientSession() as session:
        for path, count in (("/v1/ok", ok), ("/v1/fail", failed)):
            for _ in range(count):
                async with session.get(url + path) as response:
                    await response.read()


@pytest.fixture
async def edge() -> AsyncIterator[FakeEdge]:
    server = FakeEdge("edge-a")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def edge_b() -> AsyncIterator[FakeEdge]:
    server = FakeEdge("edge-b")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
