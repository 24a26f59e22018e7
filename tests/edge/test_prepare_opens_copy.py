"""The prepare call opens the copy's store, so the activation inside the hold does not.

A whole copy arrives as a snapshot file that the target installs in place of its empty
store: the new file is not opened until something writes to it. In a 100 x 10 MB wide
plan every activation's final delta reopened it inside the cutover's hold (2.5 / 6.0 /
22 ms p50 / p90 / max, against 0.2 ms for the transaction). Two real daemons on
loopback, a real snapshot copy between them.
"""

from __future__ import annotations

import os
from contextlib import aclosing
from typing import TYPE_CHECKING

import pytest
from stalls import TOKEN

from edge_actors.transfer import SNAPSHOT_MIN_BYTES, TransferSpec
from edge_actors.wire import Change

if TYPE_CHECKING:
    import sqlite3

    from conftest import Pair

pytestmark = pytest.mark.anyio

_VALUE = 4096
_RECORDS = SNAPSHOT_MIN_BYTES // _VALUE + 100


async def _copy_as_snapshot(pair: Pair) -> int:
    """Fill ``orders`` on west past the snapshot threshold and copy it whole to east;
    the LSN copied."""
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1")
    rows = [(f"k{i:05d}", os.urandom(_VALUE)) for i in range(_RECORDS)]
    for start in range(0, _RECORDS, 200):
        await pair.client.batch("orders", rows[start : start + 200])
    spec = TransferSpec(
        transfer_id="t-orders",
        migration_id="mig-1",
        workload="orders",
        target_name=pair.east.name,
        target_url=pair.east.url,
        target_token=TOKEN,
        batch_size=200,
    )
    async with aclosing(pair.admin_west.transfer(spec)) as stream:
        progress = [line async for line in stream]
    assert progress[-1].state == "done"
    assert progress[-1].snapshot
    return progress[-1].acked_lsn


async def test_prepare_opens_the_installed_copy_and_the_activation_finds_it_open(
    pair: Pair,
) -> None:
    lsn = await _copy_as_snapshot(pair)
    store = pair.east.registry.get("orders")
    assert not store.writer_open  # the installed file was never opened
    assert store._writer.warm  # the new store object is kept warm too, as incoming
    answer = await pair.admin_east.prepare_activation("orders", quiet_ms=500, settle_ms=100)
    assert answer.workload.status == "incoming"
    assert store.writer_open

    opened_inside: list[bool] = []
    real_checkout = store._writer._checkout

    def checkout() -> sqlite3.Connection:
        opened_inside.append(not store._writer.is_open)
        return real_checkout()

    store._writer._checkout = checkout  # type: ignore[method-assign]
    assert await pair.client.put("orders", "late", b"v") == lsn + 1
    source = await pair.admin_west.workload("orders")
    info = await pair.admin_east.activate(
        "orders",
        min_lsn=lsn + 1,
        digest=source.digest,
        epoch=2,
        delta=[Change(lsn=lsn + 1, key="late", value=b"v")],
    )
    assert opened_inside == [False]  # the final delta's write found the connection open
    assert (info.status, info.lsn, info.digest) == ("active", lsn + 1, source.digest)
