"""Issue 11, "browser (CSRF, DNS rebinding)": a foreign ``Host`` is refused on a loopback
daemon, and a write with a browser's "simple" content type is refused (415)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from .conftest import ADMIN, config, seeded, send, state

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio


async def _raw(daemon: EdgeDaemon, request: bytes) -> bytes:
    host, port = daemon.bound_url.removeprefix("http://").rsplit(":", 1)
    async with await anyio.connect_tcp(host, int(port)) as stream:
        await stream.send(request)
        data = b""
        with anyio.fail_after(5):
            try:
                while True:
                    data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    return data


async def test_a_foreign_host_is_refused_by_a_loopback_daemon(daemon: EdgeDaemon) -> None:
    port = daemon.bound_url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.5"):
        answer = await _raw(
            daemon,
            f"GET /v1/workloads/billing-eu HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 421 "), (host, answer[:200])
        assert b"host_not_allowed" in answer
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        answer = await _raw(
            daemon,
            f"GET /v1/workloads/billing-eu HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 200 "), (host, answer[:200])


async def test_configured_host_names_are_answered(tmp_path: Path) -> None:
    cfg = config(tmp_path, allowed_hosts=("edge.internal",))
    async with seeded(cfg) as daemon:
        answer = await _raw(
            daemon,
            b"GET /api/health HTTP/1.1\r\nHost: edge.internal:7400\r\n"
            + f"Authorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_a_cross_origin_simple_post_to_batch_is_refused(
    daemon: EdgeDaemon, content_type: str | None
) -> None:
    before = await state(daemon)
    body = b"\x91\x92\xa7balance\xc4\x06999999"  # [["balance", b"999999"]]
    headers = {} if content_type is None else {"Content-Type": content_type}
    if content_type is None:
        # aiohttp adds application/octet-stream to bytes; a raw request sends none.
        port = daemon.bound_url.rsplit(":", 1)[1]
        answer = await _raw(
            daemon,
            f"POST /v1/workloads/billing-eu/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {ADMIN}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body,
        )
        assert answer.startswith(b"HTTP/1.1 415 "), answer[:200]
    else:
        result = await send(
            daemon, "POST", "/v1/workloads/billing-eu/batch", ADMIN, data=body, headers=headers
        )
        assert result.status == 415, result
    # Without a token (what a browser page has), it is 401 before anything else.
    anonymous = await send(
        daemon, "POST", "/v1/workloads/billing-eu/batch", data=body,
        headers={"Content-Type": "text/plain"},
    )  # fmt: skip
    assert anonymous.status == 401
    assert await state(daemon) == before
