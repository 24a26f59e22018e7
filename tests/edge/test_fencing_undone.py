"""An undone cutover burns its epoch: a late activation cannot make a second owner.

Two real daemons on loopback. The target runs with the cutover pause hook at
``activating`` (``edge/_test_hooks.py``): it receives the source's activation and waits
before acting on it. The source's deadline runs out, its undo sets the target back to
``incoming`` (with the cutover's epoch) and releases the held writes; then the test lets
the stalled activation go on. Before the fix the target went ``active`` at that same epoch
next to the active source (two copies accepting writes until the reconciler settled it);
now the target refuses it (409 ``stale_epoch``), and a retried cutover carrying a new
epoch goes through.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient, EdgeConflict, EdgeHTTPError
from edge_actors.edge._models import CutoverRequest
from edge_actors.edge._test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import StartDaemon  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
_ACTIVATE = re.compile(
    r'edge_http_requests_total\{[^}]*route="/admin/workloads/\{workload\}/activate"'
    r'[^}]*status="(\d+)"\} (\S+)'
)


def _activations(daemon: EdgeDaemon) -> dict[str, float]:
    """Answered activation requests of ``daemon`` by HTTP status (its ``/metrics``)."""
    text = daemon.metrics.render().decode()
    return {status: float(n) for status, n in _ACTIVATE.findall(text)}


class _Writer:
    """Writes unique keys through the source for as long as it runs; keeps the acks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: dict[str, bytes] = {}

    async def run(self) -> None:
        async with EdgeClient(self.url, timeout=10.0, token=TOKEN) as client:
            n = 0
            while True:
                key, value = f"w{n:06d}", f"value-{n}".encode()
                n += 1
                await client.put("orders", key, value)  # held writes wait, never fail
                self.acked[key] = value
                await anyio.sleep(0.002)

    async def wait_for_more(self, count: int) -> None:
        goal = len(self.acked) + count
        with anyio.fail_after(30):
            while len(self.acked) < goal:
                await anyio.sleep(0.01)


def _request(east: EdgeDaemon, *, epoch: int, deadline_ms: float | None) -> CutoverRequest:
    return CutoverRequest(
        target_name=east.name,
        target_url=east.url,
        target_token=TOKEN,
        migration_id="mig-1",
        transfer_id=f"mig-1-final-{epoch}",
        batch_size=50,
        epoch=epoch,
        deadline_ms=deadline_ms,
    )


async def test_an_activation_after_its_undo_is_refused(
    start_daemon: StartDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = tmp_path / "go"
    reached = tmp_path / "go.reached"
    monkeypatch.setenv(PAUSE_AT_ENV, "activating")
    monkeypatch.setenv(PAUSE_FILE_ENV, str(go))
    async with start_daemon("edge-east") as east:
        monkeypatch.delenv(PAUSE_AT_ENV)  # the source runs without the hook
        async with (
            start_daemon("edge-west") as west,
            AdminClient(west.url, TOKEN) as admin_west,
            AdminClient(east.url, TOKEN) as admin_east,
            EdgeClient(west.url, token=TOKEN) as client,
        ):
            await admin_west.create_workload("orders", epoch=1)
            await admin_east.create_workload("orders", "incoming", epoch=1)
            await client.batch("orders", [(f"r{i}", b"x" * 100) for i in range(200)])
            writer = _Writer(west.url)
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run)
                await writer.wait_for_more(20)

                # The target stalls on its activation past the deadline: undone.
                with pytest.raises(EdgeHTTPError, match="cutover_failed") as failed:
                    await admin_west.cutover("orders", _request(east, epoch=2, deadline_ms=300))
                assert "back to incoming" in failed.value.message
                assert reached.exists()  # it did stall at the activation
                assert (await admin_east.workload("orders")).status == "incoming"
                await writer.wait_for_more(20)  # the source serves again

                # Now the stalled activation acts: the epoch it carries was undone here.
                go.touch()
                with anyio.fail_after(30):
                    while not _activations(east):
                        await anyio.sleep(0.01)
                assert _activations(east) == {"409": 1.0}
                east_info = await admin_east.workload("orders")
                west_info = await admin_west.workload("orders")
                assert (east_info.status, east_info.epoch) == ("incoming", 2)
                assert (west_info.status, west_info.retiring_to) == ("active", None)
                with pytest.raises(EdgeConflict, match="stale_epoch"):
                    await admin_east.activate("orders", min_lsn=0, epoch=2)
                await writer.wait_for_more(20)  # one owner: the source

                # A retried cutover takes a new epoch and goes through.
                answer = await admin_west.cutover(
                    "orders", _request(east, epoch=3, deadline_ms=None)
                )
                await writer.wait_for_more(20)  # forwarded to the new owner
                tg.cancel_scope.cancel()
            west_info = await admin_west.workload("orders")
            east_info = await admin_east.workload("orders")
            assert (west_info.status, west_info.moved_to) == ("moved", east.url.rstrip("/"))
            assert (east_info.status, east_info.epoch) == ("active", 3)
            assert answer.hold_lsn <= east_info.lsn
            async with EdgeClient(east.url, token=TOKEN) as reader:
                lost = [k for k, v in writer.acked.items() if await reader.get("orders", k) != v]
            assert lost == []
            assert len(writer.acked) >= 80
