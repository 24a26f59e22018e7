"""Issue 11, "files at rest": the data directory is 0700 and a daemon process creates its
files 0600; looser modes found at start are tightened (the directory) and logged."""

from __future__ import annotations

import os
import signal
import stat
import sys
from typing import TYPE_CHECKING

import anyio
import pytest
import structlog.testing

from edge_actors.edge import AdminClient, EdgeClient, EdgeDaemon

from .conftest import ADMIN, config

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_an_embedded_daemon_creates_its_data_dir_0700(tmp_path: Path) -> None:
    async with EdgeDaemon(config(tmp_path)) as daemon:
        data_dir = tmp_path / daemon.name
        assert _mode(data_dir) == 0o700


async def test_loose_modes_are_tightened_and_logged_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "edge-sec"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    leaked = data_dir / "stray.bin"
    leaked.write_text("{}")
    leaked.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        async with EdgeDaemon(config(tmp_path)):
            assert _mode(data_dir) == 0o700
    warnings = [e for e in logs if e["event"] == "data_file_not_private"]
    assert [(e["path"], e["mode"]) for e in warnings] == [(str(leaked), "0o644")]


async def test_a_daemon_process_creates_every_file_0600(tmp_path: Path) -> None:
    token_file = tmp_path / "admin.token"
    token_file.write_text(ADMIN)
    data_dir = tmp_path / "d"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_ACTORS_")}
    args = [sys.executable, "-m", "edge_actors.cli", "daemon", "--name", "e", "--port", "0",
            "--data-dir", str(data_dir), "--token-file", str(token_file)]  # fmt: skip
    async with await anyio.open_process(args, env=env) as process:
        assert process.stdout is not None
        line = b""
        with anyio.fail_after(30):
            while b"\n" not in line:
                line += await process.stdout.receive()
        url = line.split(b"\n", 1)[0].decode().rsplit(" ", 1)[1]
        # The token never appears in the process listing.
        cmdline = anyio.Path("/proc") / str(process.pid) / "cmdline"
        assert ADMIN.encode() not in await cmdline.read_bytes()
        async with AdminClient(url, ADMIN) as admin, EdgeClient(url, token=ADMIN) as client:
            await admin.create_workload("orders")
            await client.put("orders", "k", b"v")
            await admin.set_status("orders", "incoming")
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0
    assert _mode(data_dir) == 0o700
    entries = list(data_dir.rglob("*"))
    assert any(p.is_file() for p in entries)
    loose = [(str(p), oct(_mode(p))) for p in entries if _mode(p) & 0o077]
    assert loose == []
    assert all(_mode(p) == 0o600 for p in entries if p.is_file())


async def test_a_shared_sticky_directory_is_warned_about_not_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: tightening it would break every other user
    with structlog.testing.capture_logs() as logs:
        async with EdgeDaemon(config(tmp_path, data_dir=str(shared))):
            assert _mode(shared) == 0o1777
    warnings = [(e["path"], e["mode"]) for e in logs if e["event"] == "data_file_not_private"]
    assert (str(shared), "0o1777") in warnings


async def test_an_embedded_daemon_creates_every_file_0600_whatever_the_umask(
    tmp_path: Path,
) -> None:
    """A library must not change its host's umask, so an embedded edge (``LocalRuntime``'s)
    creates its stores, catalog and routing files 0600 itself: reusing its data directory
    later finds nothing loose to warn about."""
    previous = os.umask(0o022)
    try:
        async with EdgeDaemon(config(tmp_path)) as daemon:
            async with AdminClient(daemon.url, ADMIN) as admin:
                await admin.create_workload("orders")
                async with EdgeClient(daemon.url, token=ADMIN) as client:
                    await client.put("orders", "k", b"v")
                    assert await client.get("orders", "k") == b"v"
                await admin.set_status("orders", "incoming")
            data_dir = tmp_path / daemon.name
    finally:
        os.umask(previous)
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert len(files) >= 3
    assert [(str(p), oct(_mode(p))) for p in files if _mode(p) & 0o077] == []
    with structlog.testing.capture_logs() as logs:
        async with EdgeDaemon(config(tmp_path)):
            pass
    assert [e for e in logs if e["event"] == "data_file_not_private"] == []


def test_the_sqlite_journal_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    from edge_actors.migration.journal import Journal

    previous = os.umask(0o022)
    try:
        journal = Journal(tmp_path / "supervisor")
        journal.close()
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "supervisor").rglob("*") if p.is_file()]
    assert files
    assert [(p.name, oct(_mode(p))) for p in files if _mode(p) & 0o077] == []
    assert _mode(tmp_path / "supervisor") == 0o700
