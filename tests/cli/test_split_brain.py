"""kill -9 of the source inside the cutover, after the target went active (issue 10, 1).

Three daemon subprocesses: two edges and a supervisor daemon. The source edge runs with
the cutover pause hook (``edge/_test_hooks.py``) at ``target_activated``: it stops right
after the target confirmed and went ``active``, before its own route flips, and is killed
there with SIGKILL while a writer keeps writing through it. Before fencing, the source
came back ``active`` next to an active target (two copies acknowledging writes) and the
migration ended ``failed: rollback failed`` for good. Now the run waits the source out
(``waiting for edge edge-west``), the source comes back redirecting to the target, and
the resumed run finishes the handover: the target is the one owner.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient, WorkloadMissing
from edge_actors.edge._test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV
from edge_actors.migration.journal import Journal

from .conftest import TOKEN, daemon, run_cli, seed, write_topology

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


class _Writer:
    """Writes unique keys through the source (following 307s); keeps what was acked."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: dict[str, bytes] = {}
        self.failed = 0
        self._stop = anyio.Event()
        self.done = anyio.Event()
        """Set once :meth:`run` has returned: ``acked`` changes no more."""

    async def run(self) -> None:
        try:
            await self._write()
        finally:
            self.done.set()

    async def _write(self) -> None:
        n = 0
        while not self._stop.is_set():
            url = self.url  # the source's address once it is back (a new port)
            async with EdgeClient(url, timeout=5.0, token=TOKEN) as client:
                while not self._stop.is_set() and url == self.url:
                    key, value = f"w{n:06d}", f"value-{n}".encode()
                    n += 1
                    try:
                        await client.put("ledger", key, value)
                    except Exception:  # down, held and cut, refused: never acknowledged
                        self.failed += 1
                        with anyio.move_on_after(0.02):
                            await self._stop.wait()
                    else:
                        self.acked[key] = value

    async def wait_for_more(self, count: int) -> None:
        target = len(self.acked) + count
        with anyio.fail_after(60):
            while len(self.acked) < target:
                await anyio.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()


async def _wait_for_status(journal_dir: Path, text: str, timeout: float = 60.0) -> str:
    """The migration id once its journaled state or detail contains ``text``."""
    with anyio.fail_after(timeout):
        while True:
            if await anyio.Path(journal_dir / "migrations.sqlite").exists():
                journal = Journal(journal_dir)
                try:
                    for entry in journal.load():
                        if text in entry.status.detail or text == entry.status.state:
                            return entry.plan.migration_id
                finally:
                    journal.close()
            await anyio.sleep(0.1)


async def _raw_put_status(url: str) -> tuple[int, str]:
    """A write straight to ``url``, not following redirects: status and Location."""
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{url}/v1/workloads/ledger/records/probe",
            data=b"x",
            allow_redirects=False,
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/octet-stream",
            },
        ) as resp,
    ):
        return resp.status, resp.headers.get("Location", "")


async def test_kill_9_source_after_target_activated_leaves_one_owner(tmp_path: Path) -> None:
    go = tmp_path / "go"  # never created: the source waits at the step until killed
    hook = {PAUSE_AT_ENV: "target_activated", PAUSE_FILE_ENV: str(go)}
    journal_dir = tmp_path / "supervisor" / "migrations"
    async with (
        daemon(tmp_path, "edge-east") as (_, east),
        daemon(tmp_path, "edge-west", env=hook) as (west_process, west),
    ):
        await seed(west, "ledger", 300, 256)
        topology = write_topology(
            tmp_path / "topology.toml", {"edge-west": west, "edge-east": east}
        )
        supervisor_args = ("--supervisor", "--topology", str(topology))
        writer = _Writer(west)
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run)
            await writer.wait_for_more(20)
            async with daemon(tmp_path, "supervisor", *supervisor_args) as (sup, url):
                env = {"EDGE_ACTORS_DAEMON": url, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN}
                started = await run_cli(
                    "migrate", "--source", "edge-west", "--target", "edge-east",
                    "--workload", "ledger", "--constraint", "max_downtime=2s",
                    "--detach", "--json", **env,
                )  # fmt: skip
                assert started.code == 0, started.err
                with anyio.fail_after(60):
                    while not await anyio.Path(f"{go}.reached").exists():
                        await anyio.sleep(0.02)
                async with AdminClient(east, TOKEN) as admin:
                    assert (await admin.workload("ledger")).status == "active"
                os.kill(west_process.pid, signal.SIGKILL)  # before the source flips
                await west_process.wait()
                # The run waits the source out (it used to use up its restarts and its
                # rollback's, and end "failed: rollback failed" for good).
                mid = await _wait_for_status(journal_dir, "waiting for edge edge-west since")
                os.kill(sup.pid, signal.SIGKILL)  # nothing changes the edges now
                await sup.wait()

            # The source comes back from the dead (no hook): it must not serve.
            async with daemon(tmp_path, "edge-west") as (_, west_again):
                status, location = await _raw_put_status(west_again)
                assert status in (307, 503), status
                if status == 307:
                    assert location.startswith(east), location
                async with AdminClient(west_again, TOKEN) as admin:
                    info = await admin.workload("ledger")
                assert info.retiring_to == east.rstrip("/")
                writer.url = west_again
                await writer.wait_for_more(20)  # acknowledged by the target meanwhile

                topology = write_topology(
                    tmp_path / "topology.toml", {"edge-west": west_again, "edge-east": east}
                )
                async with daemon(tmp_path, "supervisor", *supervisor_args) as (_, url):
                    await _wait_for_status(journal_dir, "completed")
                    await writer.wait_for_more(20)  # still acknowledged, by the owner
                    writer.stop()
                    with anyio.fail_after(30):
                        await writer.done.wait()  # its last write answered: acked is final
                await _assert_one_owner(west_again, east, writer.acked)
    journal = Journal(journal_dir)
    final = {entry.plan.migration_id: entry.status.state for entry in journal.load()}
    journal.close()
    assert final == {mid: "completed"}  # resumed once the source answered


async def _assert_one_owner(west: str, east: str, acked: dict[str, bytes]) -> None:
    accepting = []
    for url in (west, east):
        async with AdminClient(url, TOKEN) as admin:
            try:
                info = await admin.workload("ledger")
            except WorkloadMissing:
                continue
        assert not info.held, (url, info)
        if info.status == "active" and info.retiring_to is None:
            accepting.append(url)
    assert accepting == [east]  # the handover was finished: the target is the one owner
    async with EdgeClient(east, token=TOKEN) as client:
        lost = [key for key, value in acked.items() if await client.get("ledger", key) != value]
    assert lost == []
    assert len(acked) >= 40
