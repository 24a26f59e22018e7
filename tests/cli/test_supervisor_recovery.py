"""SIGKILL of a ``daemon --supervisor`` mid-sync; restarted on its journal, it finishes.

Three daemon subprocesses: two edges and a supervisor daemon hosting only the migration
service (its topology names both edges). The CLI plans and starts the migration through
the supervisor, which is killed with SIGKILL while the slow (2 Mbit/s) copy is running.
Run with the default journal (SQLite in the data dir) and with ``--journal
postgresql://...`` on the real PostgreSQL server of the tests.
"""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient, WorkloadIncoming
from edge_actors.migration.journal import JournalBackend, open_journal

from .conftest import TOKEN, daemon, run_cli, seed, write_topology

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest) -> str | None:
    """The ``--journal`` of the supervisor (``None``: the default, SQLite in its data dir)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


async def _journal(tmp_path: Path, url: str | None) -> JournalBackend:
    return await open_journal(url, data_dir=tmp_path / "supervisor" / "migrations")


async def test_kill_9_supervisor_daemon_then_restart_completes(
    tmp_path: Path, journal_url: str | None
) -> None:
    async with (
        daemon(tmp_path, "edge-west") as (_, west),
        daemon(tmp_path, "edge-east") as (_, east),
    ):
        digest = await seed(west, "ledger", 1000, 1024)
        topology = write_topology(
            tmp_path / "topology.toml", {"edge-west": west, "edge-east": east}
        )
        supervisor_args: tuple[str, ...] = ("--supervisor", "--topology", str(topology))
        if journal_url is not None:
            supervisor_args += ("--journal", journal_url)
        async with daemon(tmp_path, "supervisor", *supervisor_args) as (first, url):
            env = {"EDGE_ACTORS_DAEMON": url, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN}
            started = await run_cli(
                "migrate", "--source", "edge-west", "--target", "edge-east",
                "--workload", "ledger", "--bandwidth-mbps", "2", "--batch-size", "100",
                "--checkpoint-interval", "0.2", "--constraint", "max_downtime=300ms",
                "--detach", "--json", **env,
            )  # fmt: skip
            assert started.code == 0, started.err
            mid = json.loads(started.out)["migration_id"]
            async with AdminClient(east, TOKEN) as admin:
                with anyio.fail_after(30):
                    while True:
                        try:
                            if (await admin.workload("ledger")).records >= 300:
                                break
                        except Exception:  # not created on the target yet
                            pass
                        await anyio.sleep(0.05)
            first.kill()  # SIGKILL mid-sync
            assert await first.wait() == -signal.SIGKILL
        journal = await _journal(tmp_path, journal_url)
        [entry] = await journal.load()
        await journal.close()
        assert entry.status.state == "sync"
        # the last checkpoint journaled the acknowledged work and the time it took
        assert entry.checkpoint is not None
        assert entry.metrics.records > 0
        assert entry.metrics.bytes_raw > entry.metrics.records * 1024
        assert entry.metrics.phase_durations_s["sync"] > 0
        before_kill = entry.metrics
        async with EdgeClient(east, token=TOKEN) as client:
            with pytest.raises(WorkloadIncoming):  # not cut over: the source still serves
                await client.get("ledger", "k000001")

        async with daemon(tmp_path, "supervisor", *supervisor_args) as (second, url):
            env = {"EDGE_ACTORS_DAEMON": url, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN}
            watched = await run_cli("status", mid, "--watch", "--wait-timeout", "60", **env)
            assert watched.code == 0, watched.err
            assert f"migration {mid}: completed" in watched.out
            # its real totals: the work before the kill counts, and so does the restart
            report = json.loads((await run_cli("status", mid, "--json", **env)).out)
            metrics, progress = report["metrics"], report["progress"]
            assert metrics["records"] == progress["records_done"] == 1000
            assert metrics["bytes_raw"] == progress["bytes_done"] > 1000 * 1024
            assert metrics["restarts"] == 1
            assert metrics["duration_s"] > before_kill.duration_s
            assert metrics["phase_durations_s"]["sync"] > before_kill.phase_durations_s["sync"]
            shown = await run_cli("status", mid, **env)
            assert "records moved: 1,000\n" in shown.out
            assert "progress: completed  | round 1 | 1,000/1,000 records" in shown.out
            assert "restarts: 1, " in shown.out
            second.send_signal(signal.SIGTERM)
            assert await second.wait() == 0

        async with AdminClient(east, TOKEN) as admin:
            target = await admin.workload("ledger")
        assert (target.status, target.records, target.digest) == ("active", 1000, digest)
        async with EdgeClient(west, token=TOKEN) as client:  # the source redirects to the target
            assert (await client.info("ledger")).digest == digest
        journal = await _journal(tmp_path, journal_url)
        details = [e.detail for e in await journal.history(mid)]
        owners = await journal.owners()
        await journal.close()
        assert any("recovered from the journal" in d for d in details)
        assert [(o.workload, o.owner_edge, o.handing_to) for o in owners] == [
            ("ledger", "edge-east", None)
        ]
        if journal_url is not None:  # nothing was written to the data dir instead
            assert not (tmp_path / "supervisor" / "migrations" / "migrations.sqlite").exists()
