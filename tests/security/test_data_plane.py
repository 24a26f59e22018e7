"""Issue 11, "data API with no token" and "scoped credentials": every data, probe, admin,
peer and metrics request needs a credential, and a credential only does what its scope
allows (401 or 403, nothing changed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import msgspec
import pytest

from edge_actors.edge import EdgeClient, EdgeHTTPError

from .conftest import (
    ADMIN,
    BILLING_RW,
    METRICS,
    PEER,
    REPORTS_RO,
    WRONG,
    bearer,
    send,
    state,
)

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

BINARY = {"Content-Type": "application/octet-stream"}
BATCH = msgspec.msgpack.encode([["balance", b"999999"]])

# (method, path, body): every data route, writes and reads, on a seeded workload.
DATA_ROUTES = [
    ("GET", "/v1/workloads/billing-eu/records/balance", None),
    ("PUT", "/v1/workloads/billing-eu/records/balance", b"999999"),
    ("DELETE", "/v1/workloads/billing-eu/records/balance", None),
    ("POST", "/v1/workloads/billing-eu/batch", BATCH),
    ("GET", "/v1/workloads/billing-eu", None),
    ("GET", "/v1/workloads/billing-eu/health", None),
]


@pytest.mark.parametrize("token", [None, WRONG, "", "Bearer"])
async def test_data_api_without_a_valid_token_is_401_and_changes_nothing(
    daemon: EdgeDaemon, token: str | None
) -> None:
    before = await state(daemon)
    for method, path, body in DATA_ROUTES:
        headers = dict(BINARY)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}" if token != "Bearer" else token
        answer = await send(daemon, method, path, data=body, headers=headers)
        assert answer.status == 401, (method, path, answer)
        assert msgspec.json.decode(answer.body)["error"] == "unauthorized"
        assert b"100" not in answer.body  # no record, digest or count leaks
    assert await state(daemon) == before


async def test_every_endpoint_needs_a_credential(daemon: EdgeDaemon) -> None:
    for path in ("/api/health", "/api/status", "/metrics", "/admin/health", "/no/such/route"):
        answer = await send(daemon, "GET", path)
        assert answer.status == 401, path
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(daemon.url + "/peer/stream")
        assert refused.value.status == 401


async def test_metrics_need_a_metrics_or_admin_credential(daemon: EdgeDaemon) -> None:
    assert (await send(daemon, "GET", "/metrics")).status == 401
    assert (await send(daemon, "GET", "/metrics", BILLING_RW)).status == 403
    assert (await send(daemon, "GET", "/metrics", PEER)).status == 403
    scraped = await send(daemon, "GET", "/metrics", METRICS)
    assert scraped.status == 200
    assert ADMIN.encode() not in scraped.body
    assert (await send(daemon, "GET", "/metrics", ADMIN)).status == 200
    # The scraper may not touch data or admin routes.
    assert (await send(daemon, "GET", "/v1/workloads/billing-eu", METRICS)).status == 403
    assert (await send(daemon, "GET", "/admin/health", METRICS)).status == 403


async def test_data_credential_is_limited_to_its_workload_patterns(daemon: EdgeDaemon) -> None:
    before = await state(daemon)
    outside = [
        ("GET", "/v1/workloads/reports-q1/records/balance", None),
        ("PUT", "/v1/workloads/reports-q1/records/balance", b"999999"),
        ("DELETE", "/v1/workloads/reports-q1/records/balance", None),
        ("POST", "/v1/workloads/reports-q1/batch", BATCH),
        ("GET", "/v1/workloads/reports-q1", None),
        ("GET", "/admin/workloads", None),
        ("POST", "/admin/workloads", b'{"name": "billing-new"}'),
    ]
    for method, path, body in outside:
        answer = await send(daemon, method, path, BILLING_RW, data=body, headers=BINARY)
        assert answer.status == 403, (method, path)
        assert msgspec.json.decode(answer.body)["error"] == "forbidden"
    assert await state(daemon) == before
    async with EdgeClient(daemon.url, token=BILLING_RW) as billing:
        assert await billing.put("billing-eu", "balance", b"150") == 2
        assert await billing.get("billing-eu", "balance") == b"150"
        with pytest.raises(EdgeHTTPError) as refused:
            await billing.get("reports-q1", "balance")
        assert refused.value.status == 403


async def test_read_only_credential_reads_but_never_writes(daemon: EdgeDaemon) -> None:
    before = await state(daemon)
    async with EdgeClient(daemon.url, token=REPORTS_RO) as reports:
        assert await reports.get("reports-q1", "balance") == b"100"
        assert (await reports.info("reports-q1")).records == 1
        for write in (
            reports.put("reports-q1", "balance", b"999999"),
            reports.delete("reports-q1", "balance"),
            reports.batch("reports-q1", [("balance", b"999999")]),
        ):
            with pytest.raises(EdgeHTTPError) as refused:
                await write
            assert refused.value.status == 403
    assert await state(daemon) == before


async def test_peer_credential_opens_the_peer_stream_only(daemon: EdgeDaemon) -> None:
    before = await state(daemon)
    for method, path, body in DATA_ROUTES:
        answer = await send(daemon, method, path, PEER, data=body, headers=BINARY)
        assert answer.status == 403, (method, path)
    assert (await send(daemon, "GET", "/admin/workloads", PEER)).status == 403
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(daemon.url + "/peer/stream", headers=bearer(PEER))
        await ws.close()
    assert await state(daemon) == before


async def test_admin_credential_may_use_the_data_api(daemon: EdgeDaemon) -> None:
    async with EdgeClient(daemon.url, token=ADMIN) as client:
        assert await client.get("reports-q1", "balance") == b"100"
        assert await client.put("reports-q1", "balance", b"101") == 2


async def test_client_takes_its_token_from_the_environment_or_a_file(
    daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EDGE_ACTORS_TOKEN_FILE", raising=False)
    monkeypatch.setenv("EDGE_ACTORS_TOKEN", BILLING_RW)
    async with EdgeClient(daemon.url) as client:
        assert await client.get("billing-eu", "balance") == b"100"
    monkeypatch.delenv("EDGE_ACTORS_TOKEN")
    token_file = tmp_path / "billing.token"
    token_file.write_text(BILLING_RW + "\n")
    monkeypatch.setenv("EDGE_ACTORS_TOKEN_FILE", str(token_file))
    async with EdgeClient(daemon.url) as client:
        assert await client.get("billing-eu", "balance") == b"100"
    async with EdgeClient(daemon.url, token_file=token_file) as client:
        assert await client.get("billing-eu", "balance") == b"100"
