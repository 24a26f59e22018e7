"""Fixtures of the bad-input tests: one real daemon on a loopback port, a raw HTTP session
and a snapshot of everything a refused request must leave unchanged."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from yarl import URL

from edge_actors.edge import AdminClient, EdgeClient, EdgeConfig, EdgeDaemon

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

TOKEN = "inputs-cluster-token-0123456789abcdefghij"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORKLOAD = "orders"


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[EdgeDaemon]:
    """A daemon ``edge-in`` hosting workload ``orders`` with three records."""
    config = EdgeConfig(
        name="edge-in",
        data_dir=str(tmp_path / "edge-in"),
        cluster_token=TOKEN,
        hold_timeout_s=20.0,
        shutdown_timeout_s=2.0,
        auth_failure_burst=10_000,  # these tests send many wrong tokens on purpose
    )
    async with EdgeDaemon(config) as running:
        async with (
            AdminClient(running.url, TOKEN) as admin,
            EdgeClient(running.url, token=TOKEN) as app,
        ):
            await admin.create_workload(WORKLOAD)
            for i in range(3):
                await app.put(WORKLOAD, f"k{i}", f"v{i}".encode())
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw session: requests are sent exactly as written (no redirects followed)."""
    async with aiohttp.ClientSession() as session:
        yield session


async def snapshot(daemon: EdgeDaemon) -> dict[str, Any]:
    """Everything a refused request must not change: stores, routing, links."""
    async with AdminClient(daemon.url, TOKEN) as admin:
        workloads = await admin.workloads()
    return {
        "workloads": sorted(
            (w.name, w.status, w.records, w.lsn, w.digest, w.held) for w in workloads
        ),
        "routing": sorted((n, r.status, r.moved_to) for n, r in daemon.routing.items()),
        "links": dict(daemon.links.links()),
    }


async def answer(
    http: aiohttp.ClientSession, method: str, url: str, *, anonymous: bool = False, **kwargs: Any
) -> tuple[int, str, Any]:
    """Send one request; return status, content type and the decoded JSON (or raw bytes).

    The request carries the cluster token unless ``anonymous`` or its own
    ``Authorization`` header is given.
    """
    headers = dict(kwargs.pop("headers", None) or {})
    if not anonymous and "Authorization" not in headers:
        headers.update(AUTH)
    kwargs["headers"] = headers
    raw_url = URL(url, encoded=True)  # sent byte for byte: no re-quoting of '%'
    async with http.request(method, raw_url, allow_redirects=False, **kwargs) as resp:
        body = await resp.read()
        if resp.content_type == "application/json":
            return resp.status, resp.content_type, json.loads(body)
        return resp.status, resp.content_type, body


def assert_error(
    result: tuple[int, str, Any], status: int, code: str, *mentions: str
) -> dict[str, Any]:
    """The answer is a JSON error with ``status`` and ``code`` whose message names ``mentions``."""
    got_status, content_type, body = result
    assert got_status == status, result
    assert content_type == "application/json", result
    assert isinstance(body, dict), result
    assert body.get("error") == code, result
    message = body["message"]
    assert isinstance(message, str), result
    assert message, result
    assert "Traceback" not in message, result
    assert "\n" not in message, result
    for part in mentions:
        assert part in message, (part, message)
    return body
