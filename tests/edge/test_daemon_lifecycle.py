"""Daemon lifecycle: shutdown with held writes, TLS, the extra-routes hook, public API."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest
from aiohttp import web

import edge_actors.edge
from edge_actors.edge import (
    AdminClient,
    EdgeClient,
    EdgeConfig,
    EdgeDaemon,
    EdgeError,
    EdgeUnavailable,
)
from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


async def test_shutdown_turns_away_held_writes(start_daemon: StartDaemon) -> None:
    outcomes: list[BaseException | int] = []
    async with start_daemon("edge-a") as daemon, EdgeClient(daemon.url, token=TOKEN) as client:
        async with AdminClient(daemon.url, TOKEN) as admin:
            await admin.create_workload("svc")
            await admin.hold("svc")

        async def write() -> None:
            try:
                outcomes.append(await client.put("svc", "k", b"v"))
            except EdgeUnavailable as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            with anyio.fail_after(10):
                while daemon.router.gate("svc").queued < 1:
                    await anyio.sleep(0.01)
            await daemon.aclose()
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], EdgeUnavailable)
    assert outcomes[0].code == "shutting_down"


async def test_daemon_properties_need_a_running_daemon(tmp_path: Path) -> None:
    daemon = EdgeDaemon(
        EdgeConfig(name="e", data_dir=str(tmp_path), cluster_token="t-0123456789abcdefghij-t")
    )
    with pytest.raises(EdgeError, match="not running"):
        _ = daemon.url
    with pytest.raises(EdgeError, match="not running"):
        _ = daemon.registry
    async with daemon:
        assert daemon.url.startswith("http://127.0.0.1:")
        with pytest.raises(EdgeError, match="before the daemon starts"):
            daemon.add_routes(lambda app: None)
    await daemon.aclose()  # idempotent


async def test_extra_routes_hook_and_admin_auth(tmp_path: Path) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "migrations"})

    def add(app: web.Application) -> None:
        app.router.add_get("/admin/migrations", hello)

    config = EdgeConfig(
        name="e", data_dir=str(tmp_path), cluster_token=TOKEN, public_url="http://edge.example/"
    )
    async with EdgeDaemon(config, extra_routes=add) as daemon:
        assert daemon.url == "http://edge.example"
        async with aiohttp.ClientSession() as session:
            base = daemon.bound_url
            async with session.get(base + "/admin/migrations") as resp:
                assert resp.status == 401
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with session.get(base + "/admin/migrations", headers=headers) as resp:
                assert await resp.json() == {"hello": "migrations"}


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_daemon(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = EdgeConfig(
        name="e", data_dir=str(tmp_path / "d"), cluster_token=TOKEN, tls_cert=cert, tls_key=key
    )
    trust = ssl.create_default_context(cafile=cert)
    async with (
        EdgeDaemon(config) as daemon,
        AdminClient(daemon.url, TOKEN, ssl_context=trust) as admin,
        EdgeClient(daemon.url, ssl_context=trust, token=TOKEN) as client,
    ):
        assert daemon.url.startswith("https://127.0.0.1:")
        await admin.create_workload("secure")
        assert await client.put("secure", "k", b"v") == 1
        assert await client.get("secure", "k") == b"v"
    bad = EdgeConfig(
        name="e", data_dir=str(tmp_path / "d"), cluster_token=TOKEN, tls_cert=key, tls_key=key
    )
    with pytest.raises(ConfigError, match="tls_cert"):
        bad.ssl_context()


def test_public_api() -> None:
    expected = {
        "AdminClient", "AdminUnauthorized", "BadRequest", "CapacityInfo",
        "EdgeCapacityExceeded", "EdgeClient", "EdgeConfig", "EdgeConflict", "EdgeDaemon",
        "EdgeEndpoint", "EdgeError", "EdgeHTTPError", "EdgeUnavailable", "HealthInfo",
        "HoldAnswer", "LoadInfo", "PayloadTooLarge", "ReleaseAnswer", "TooManyRedirects",
        "Topology", "UnknownEdge", "WorkloadIncoming", "WorkloadInfo", "WorkloadMissing",
        "WorkloadStatus", "load_edge_config", "load_topology",
    }  # fmt: skip
    assert expected <= set(edge_actors.edge.__all__)
    for name in edge_actors.edge.__all__:
        assert getattr(edge_actors.edge, name) is not None


async def test_start_deletes_snapshot_files_a_dead_process_left(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A copy's snapshot file (an export, or parts being received) outlives a process
    killed mid-copy; the next start deletes them, and nothing else."""
    async with start_daemon("edge-a") as daemon, AdminClient(daemon.url, TOKEN) as admin:
        await admin.create_workload("kept")
    folder = tmp_path / "edge-a" / "snapshots"
    folder.mkdir(mode=0o700, exist_ok=True)
    for name in ("out-kept-0123456789ab.sqlite", "in-kept-ba9876543210.sqlite"):
        (folder / name).write_bytes(b"half a snapshot")
    async with start_daemon("edge-a") as daemon, AdminClient(daemon.url, TOKEN) as admin:
        assert list(folder.iterdir()) == []
        assert (await admin.workload("kept")).status == "active"
