"""Issue 11, "token in argv": ``--token VALUE`` is refused by every command (it would be
visible in ``ps``), with an error naming ``--token-file`` and the environment variable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

from edge_actors.edge import AdminClient
from support.daemons import ready_url

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "argv-token-0123456789abcdefghij"
WRONG = "wrong-token-0123456789abcdefghij"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_ACTORS_")}
    return subprocess.run(
        [sys.executable, "-m", "edge_actors.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["daemon", "--name", "e", "--data-dir", "{tmp}/d"],
        ["list", "--daemon", "http://127.0.0.1:9"],
        ["health", "--daemon", "http://127.0.0.1:9"],
    ],
)
def test_a_token_in_argv_is_refused(tmp_path: Path, command: list[str]) -> None:
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    result = _cli(*args, "--token", SECRET)
    assert result.returncode == 2
    assert "--token-file" in result.stderr
    assert "EDGE_ACTORS_CLUSTER_TOKEN" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert not (tmp_path / "d").exists()  # the daemon never started


def test_a_weak_token_file_is_refused(tmp_path: Path) -> None:
    weak = tmp_path / "weak.token"
    weak.write_text("s3cret\n")
    result = _cli("daemon", "--name", "e", "--data-dir", str(tmp_path / "d"),
                  "--token-file", str(weak))  # fmt: skip
    assert result.returncode == 2
    assert "too weak" in result.stderr
    assert "s3cret" not in result.stderr


def test_a_public_address_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    result = _cli("daemon", "--name", "e", "--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "no credential is configured" in result.stderr
    assert "--token-file" in result.stderr


@pytest.mark.anyio
async def test_a_daemon_started_as_the_readme_shows_refuses_everything_without_a_token(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "cluster.token"
    token_file.write_text(SECRET + "\n")
    topology = tmp_path / "edges.toml"
    topology.write_text("[edges]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_ACTORS_")}
    args = [sys.executable, "-m", "edge_actors.cli", "daemon", "--name", "edge-west-1",
            "--port", "0", "--data-dir", str(tmp_path / "west"), "--token-file",
            str(token_file), "--supervisor", "--topology", str(topology)]  # fmt: skip
    async with await anyio.open_process(args, env=env) as process:
        url = await ready_url(process, name="edge-west-1")
        async with AdminClient(url, SECRET) as admin:
            await admin.create_workload("orders")
        routes = [
            ("GET", "/v1/workloads/orders/records/k"), ("PUT", "/v1/workloads/orders/records/k"),
            ("DELETE", "/v1/workloads/orders/records/k"), ("POST", "/v1/workloads/orders/batch"),
            ("GET", "/v1/workloads/orders"), ("GET", "/api/health"), ("GET", "/metrics"),
            ("GET", "/admin/workloads"), ("POST", "/admin/workloads"),
            ("GET", "/admin/migrations"), ("POST", "/admin/migrations"), ("GET", "/peer/stream"),
        ]  # fmt: skip
        wrong = {"Authorization": f"Bearer {WRONG}"}
        # A wrong token on one route of each family; fewer failures in all than the
        # throttle's burst (20), so every answer is the 401 and not yet a 429.
        wrong_routes = [("PUT", "/v1/workloads/orders/records/k"), ("GET", "/metrics"),
                        ("POST", "/admin/workloads")]  # fmt: skip
        async with aiohttp.ClientSession() as session:
            for method, path, headers in [(m, p, {}) for m, p in routes] + [
                (m, p, wrong) for m, p in wrong_routes
            ]:
                async with session.request(
                    method,
                    url + path,
                    data=b"x",
                    headers={"Content-Type": "application/json", **headers},
                ) as resp:
                    assert resp.status == 401, (method, path, headers)
            for headers in ({}, wrong):  # a real WebSocket upgrade to the peer stream
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(url + "/peer/stream", headers=headers)
                assert refused.value.status == 401
        async with AdminClient(url, SECRET) as admin:
            [orders] = await admin.workloads()
            assert (orders.name, orders.records, orders.lsn) == ("orders", 0, 0)
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0
