"""``edge-actors daemon`` as a real subprocess: ready line, SIGTERM, SIGKILL + restart."""

from __future__ import annotations

import signal
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.cli import main
from edge_actors.edge import AdminClient, EdgeClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import Process

TOKEN = "cli-test-token-0123456789abcdefghij"
READY = "edge-actors daemon {name} listening on "
_LAUNCH = "import sys; from edge_actors.cli import main; sys.exit(main())"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", _LAUNCH, *args]


async def _read_ready_line(process: Process) -> str:
    assert process.stdout is not None
    buffer = b""
    with anyio.fail_after(30):
        while b"\n" not in buffer:
            buffer += await process.stdout.receive()
    return buffer.split(b"\n", 1)[0].decode()


@asynccontextmanager
async def running_daemon(
    tmp_path: Path, name: str, *extra: str
) -> AsyncIterator[tuple[Process, str]]:
    """Start the daemon as a subprocess and yield it with its URL from the ready line."""
    stderr = (tmp_path / f"{name}.stderr").open("ab")
    try:
        args = _command(
            "daemon", "--name", name, "--port", "0", "--data-dir", str(tmp_path / name), *extra
        )
        async with await anyio.open_process(
            args, stderr=stderr, env={"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
        ) as process:
            try:
                line = await _read_ready_line(process)
                assert line.startswith(READY.format(name=name)), line
                yield process, line.rsplit(" ", 1)[1]
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    finally:
        stderr.close()


@pytest.mark.anyio
async def test_daemon_serves_then_stops_on_sigterm(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, "edge-cli") as (process, url):
        assert url.startswith("http://127.0.0.1:")
        async with AdminClient(url, TOKEN) as admin, EdgeClient(url, token=TOKEN) as client:
            assert (await admin.health()).name == "edge-cli"
            await admin.create_workload("api-service")
            assert await client.put("api-service", "k", b"v") == 1
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0
    assert "signal_received" in (tmp_path / "edge-cli.stderr").read_text()


@pytest.mark.anyio
async def test_sigkill_then_restart_keeps_data_and_routes(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, "edge-k") as (process, url):
        async with AdminClient(url, TOKEN) as admin, EdgeClient(url, token=TOKEN) as client:
            await admin.create_workload("cache-layer")
            await admin.create_workload("arriving", status="incoming")
            for i in range(50):
                await client.put("cache-layer", f"k{i}", f"v{i}".encode())
            before = await admin.workload("cache-layer")
        process.kill()
        with anyio.fail_after(30):
            assert await process.wait() == -signal.SIGKILL
    async with running_daemon(tmp_path, "edge-k") as (process, url):
        async with AdminClient(url, TOKEN) as admin, EdgeClient(url, token=TOKEN) as client:
            after = await admin.workload("cache-layer")
            assert (after.records, after.lsn, after.digest) == (50, 50, before.digest)
            assert await client.get("cache-layer", "k49") == b"v49"
            assert (await admin.workload("arriving")).status == "incoming"
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0


def test_bad_flags_and_config_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGE_ACTORS_CLUSTER_TOKEN", raising=False)
    assert main(["daemon", "--port", "not-a-number"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["daemon", "--name", "e", "--data-dir", str(tmp_path), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no credential is configured" in err
    config = tmp_path / "edge.toml"
    config.write_text(
        'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\n'
        'max_bytes = "lots"\n'
    )
    assert main(["daemon", "--config", str(config)]) == 2
    assert "max_bytes" in capsys.readouterr().err
    args = ["daemon", "--config", str(config), "--max-bytes", "1GB", "--tls-cert", "c.pem"]
    assert main(args) == 2
    assert "tls_key" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["--version"]) == 0


@pytest.mark.anyio
async def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, "edge-p") as (process, url):
        port = url.rsplit(":", 1)[1]
        args = _command(
            "daemon", "--name", "other", "--port", port, "--data-dir", str(tmp_path / "o")
        )
        result = await anyio.run_process(
            args, check=False, env={"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
        )
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr.decode()
        assert "Traceback" not in result.stderr.decode()
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0


def test_supervisor_flag_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_ACTORS_CLUSTER_TOKEN", TOKEN)
    base = ["daemon", "--name", "e", "--data-dir", str(tmp_path / "d")]
    assert main([*base, "--topology", str(tmp_path / "t.toml")]) == 2
    assert capsys.readouterr().err == (
        "edge-actors daemon: error: --topology: only valid with --supervisor\n"
    )
    bad = tmp_path / "t.toml"
    bad.write_text('[edges.x]\nurl = "ftp://nowhere"\ntoken = "t"\n')
    assert main([*base, "--supervisor", "--topology", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "edges.x" in err


def test_journal_flag_errors_exit_2_and_never_echo_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_ACTORS_CLUSTER_TOKEN", TOKEN)
    base = ["daemon", "--name", "e", "--data-dir", str(tmp_path / "d")]
    assert main([*base, "--journal", str(tmp_path / "j.sqlite")]) == 2
    assert capsys.readouterr().err == (
        "edge-actors daemon: error: --journal: only valid with --supervisor\n"
    )
    supervisor = [*base, "--supervisor"]
    assert main([*supervisor, "--journal", "postgresql://ea:hunter2@db/ea"]) == 2
    err = capsys.readouterr().err
    assert "holds a password" in err
    assert "--journal-password-file" in err
    assert "hunter2" not in err
    assert main([*supervisor, "--journal", "mysql://ea:hunter2@db/ea"]) == 2
    err = capsys.readouterr().err
    assert "unsupported journal 'mysql://ea:***@db/ea'" in err
    assert "hunter2" not in err
    monkeypatch.setenv("EDGE_ACTORS_JOURNAL", "redis://u:hunter2@h/0")
    assert main(supervisor) == 2
    err = capsys.readouterr().err
    assert "environment EDGE_ACTORS_JOURNAL: journal: unsupported journal" in err
    assert "hunter2" not in err
    monkeypatch.delenv("EDGE_ACTORS_JOURNAL")
    missing = tmp_path / "no-such-password-file"
    args = ["--journal", "postgresql://ea@127.0.0.1:1/ea", "--journal-password-file"]
    assert main([*supervisor, *args, str(missing)]) == 2
    assert f"journal_password_file: cannot read '{missing}'" in capsys.readouterr().err


@pytest.mark.anyio
async def test_an_unreachable_journal_fails_the_start_naming_the_redacted_url(
    tmp_path: Path,
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(  # a password in the config file (mode 0600) is allowed
        f'name = "e"\ndata_dir = "{tmp_path / "d"}"\n'
        'journal = "postgresql://ea:hunter2@127.0.0.1:1/ea"\n'
    )
    args = _command("daemon", "--config", str(config), "--supervisor")
    with anyio.fail_after(60):
        result = await anyio.run_process(
            args, check=False, env={"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
        )
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "cannot reach the migration journal postgresql://ea:***@127.0.0.1:1/ea" in err
    assert "hunter2" not in err
    assert "Traceback" not in err
