"""A source of today against a real target from before ``keep_if_active`` (its own code).

The target is an ``edge-actors daemon`` run from the source tree of commit
:data:`BEFORE_KEEP_IF_ACTIVE` (the last one before the field), taken from this
repository's history with ``git archive``. Such an edge refuses a status body that names
the field (400: it forbids unknown fields), so the source's undo of an activation cut at
its deadline must make the call again without it; had it not, the undo would count as
not reached and the source would redirect to a target that is not active.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from stalls import cutover_request

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError
from support.daemons import daemon_subprocess
from support.older_code import source_tree

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
BEFORE_KEEP_IF_ACTIVE = "bfb6ea0"
"""The last commit whose edges do not know ``SetStatus.keep_if_active``."""

_LAUNCH = "import sys\nfrom edge_actors.cli import main\nsys.exit(main())\n"


class _OlderEdge(msgspec.Struct, frozen=True):
    url: str
    pause_file: Path


@pytest.fixture
async def older_edge(tmp_path: Path) -> AsyncIterator[_OlderEdge]:
    """A running target daemon from before ``keep_if_active`` whose activations pause at
    ``activating`` until its pause file exists."""
    src = source_tree(BEFORE_KEEP_IF_ACTIVE, tmp_path / "older")
    pause = tmp_path / "activating.go"
    env = {
        "PYTHONPATH": str(src),  # before the checkout's own editable path
        "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN,
        "EDGE_ACTORS_TEST_PAUSE_AT": "activating",
        "EDGE_ACTORS_TEST_PAUSE_FILE": str(pause),
        "PATH": "",
    }
    args = [sys.executable, "-c", _LAUNCH, "daemon", "--name", "edge-old", "--port", "0"]
    args += ["--data-dir", str(tmp_path / "edge-old")]
    with (tmp_path / "edge-old.stderr").open("ab") as stderr:
        async with daemon_subprocess(args, env=env, stderr=stderr, name="edge-old") as (_, url):
            yield _OlderEdge(url, pause)


async def test_the_older_edge_is_older_it_refuses_keep_if_active(older_edge: _OlderEdge) -> None:
    async with AdminClient(older_edge.url, TOKEN) as admin:
        await admin.create_workload("orders", "incoming", migration_id="mig-1", epoch=1)
        with pytest.raises(EdgeHTTPError) as refused:
            await admin.set_status("orders", "incoming", epoch=2, keep_if_active=True)
        assert refused.value.status == 400
        assert "keep_if_active" in str(refused.value)
        back = await admin.set_status("orders", "incoming", epoch=2)  # the call without it
        assert (back.status, back.epoch) == ("incoming", 2)


async def test_a_cut_activation_on_an_older_target_is_undone_without_the_field(
    start_daemon: StartDaemon, older_edge: _OlderEdge
) -> None:
    async with (
        start_daemon("edge-west") as west,
        AdminClient(west.url, TOKEN) as admin_west,
        AdminClient(older_edge.url, TOKEN) as admin_old,
    ):
        await admin_west.create_workload("orders", epoch=1)
        async with EdgeClient(west.url, token=TOKEN) as client:
            await client.batch("orders", [(f"r{i:03d}", b"v") for i in range(50)])
            await admin_old.create_workload("orders", "incoming", migration_id="mig-1", epoch=1)
            request = msgspec.structs.replace(
                cutover_request(west, 200.0),
                target_name="edge-old",
                target_url=older_edge.url,
                epoch=2,
            )
            with anyio.fail_after(20), pytest.raises(EdgeHTTPError) as failed:
                # the older target parks the activation: cut at the deadline, undone
                await admin_west.cutover("orders", request)
            assert await anyio.Path(
                f"{older_edge.pause_file}.reached"
            ).exists()  # it was parked there
            assert failed.value.status == 502
            message = str(failed.value)
            assert "step 'activate'" in message
            assert "the target is back to incoming" in message, message
            source = await admin_west.workload("orders")
            assert (source.status, source.held, source.retiring_to) == ("active", False, None)
            assert await client.put("orders", "after", b"x") == 51  # served here, at once
            target = await admin_old.workload("orders")  # the undo burned epoch 2 there
            assert (target.status, target.epoch) == ("incoming", 2)
