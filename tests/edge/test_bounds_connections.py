"""Idle and slow connections are shed, within the configured timeouts, while legitimate
clients keep being served (issue 11).

Against a real daemon subprocess with an open-file limit of 1,024: 1,100 idle sockets
once kept every new request, admin included, from being accepted, and 400 idle sockets
were all still open 30 s later (aiohttp's keep-alive is 3,630 s; there was no cap).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest
from daemon_process import TOKEN, daemon_process

from edge_actors.edge import AdminClient

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

ATTACKERS = 1100
SETTINGS = {"max_connections": "200", "keepalive_timeout_s": "2", "header_timeout_s": "1"}
SHED_DEADLINE_S = 2.0 + 8.0  # the keep-alive timeout, and slack for a loaded machine


def _open_idle(url: str, count: int) -> list[socket.socket]:
    """``count`` connections: a third send nothing, the others a header and stop there."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    socks = []
    for index in range(count):
        sock = socket.create_connection((host, int(port)))
        if index % 3:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: edge\r\nX-Slow: ")
        sock.setblocking(False)
        socks.append(sock)
    return socks


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset by the peer
        return True


async def test_idle_connections_are_shed_while_legit_clients_are_served(tmp_path: Path) -> None:
    async with daemon_process(tmp_path, "edge-conns", SETTINGS, nofile=1024) as daemon:
        socks = await anyio.to_thread.run_sync(_open_idle, daemon.url, ATTACKERS)
        try:
            served = 0
            open_socks = list(socks)
            fresh = aiohttp.TCPConnector(force_close=True)  # a new connection per request
            async with (
                aiohttp.ClientSession(
                    connector=fresh, headers={"Authorization": f"Bearer {TOKEN}"}
                ) as http,
                AdminClient(daemon.url, TOKEN, session=http) as admin,
            ):
                with anyio.fail_after(SHED_DEADLINE_S):
                    while open_socks:
                        assert (await admin.health()).status == "ok"
                        async with http.get(daemon.url + "/api/health") as resp:
                            assert resp.status == 200
                        served += 1
                        open_socks = [s for s in open_socks if not _closed_by_peer(s)]
                        await anyio.sleep(0.05)
            assert served > 0
        finally:
            for sock in socks:
                sock.close()
