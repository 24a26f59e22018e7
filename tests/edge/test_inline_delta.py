"""A cutover's small final delta goes inside the activation call (two real daemons).

A final delta of at most ``_INLINE_MAX_RECORDS`` records is read under the hold and sent
in ``POST /admin/workloads/{w}/activate``: one call instead of a peer stream's connection,
``Hello``, chunk, ``Done`` and close inside the hold. A larger one still goes over a peer
stream. The target applies the delta only to an ``incoming`` copy, skips what it already
has, leaves a copy missing earlier records to the digest check, and refuses before
applying anything at a burned epoch or with an invalid record.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from stalls import cutover_request
from structlog.testing import capture_logs

from edge_actors.edge import EdgeHTTPError
from edge_actors.wire import Change

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

DEADLINE_MS = 300.0
SLACK_MS = 100.0  # the cut's timer and the release on a loaded machine

_SENT = re.compile(r'^edge_transfer_sent_bytes_total\{[^}]*target="edge-east"[^}]*\} (\S+)$', re.M)


async def _sent_to_east(pair: Pair) -> float:
    text = await pair.admin_west.metrics_text()
    return sum(float(m) for m in _SENT.findall(text))


async def _seed(pair: Pair, records: int) -> None:
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming")
    for start in range(0, records, 500):
        batch = [(f"r{i:05d}", f"v{i}".encode()) for i in range(start, min(records, start + 500))]
        await pair.client.batch("orders", batch)


async def _changes(pair: Pair, upto: int) -> list[Change]:
    return await pair.west.registry.get("orders").scan_changes(0, upto, limit=10_000)


async def test_a_small_final_delta_goes_inside_the_activation(pair: Pair) -> None:
    await _seed(pair, 120)
    sent_before = await _sent_to_east(pair)
    with capture_logs() as logs:
        answer = await pair.admin_west.cutover("orders", cutover_request(pair.east))
    assert not [e for e in logs if e["event"] == "stream_opened"]  # no peer stream
    changes = await _changes(pair, 120)
    assert (answer.hold_lsn, answer.target_lsn, answer.records) == (120, 120, 120)
    assert answer.raw_bytes == len(msgspec.msgpack.encode(changes))
    assert answer.wire_bytes == len(msgspec.json.encode(changes))
    assert await _sent_to_east(pair) - sent_before == answer.wire_bytes  # counted once
    source = await pair.admin_west.workload("orders")
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn, target.records) == ("active", 120, 120)
    assert target.digest == source.digest == answer.digest
    assert await pair.east.registry.get("orders").compute_digest() == source.digest


async def test_a_large_final_delta_goes_over_a_peer_stream(pair: Pair) -> None:
    await _seed(pair, 1_200)  # more than _INLINE_MAX_RECORDS
    with capture_logs() as logs:
        answer = await pair.admin_west.cutover("orders", cutover_request(pair.east))
    assert [e for e in logs if e["event"] == "stream_opened"]
    assert (answer.target_lsn, answer.records) == (1_200, 1_200)
    source = await pair.admin_west.workload("orders")
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn, target.digest) == ("active", 1_200, source.digest)


async def test_a_copy_missing_records_before_the_delta_is_refused_by_its_digest(
    pair: Pair,
) -> None:
    await _seed(pair, 60)
    delta = [c for c in await _changes(pair, 60) if c.lsn > 50]  # the copy has none of 1..50
    digest = (await pair.admin_west.workload("orders")).digest
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.activate("orders", min_lsn=60, digest=digest, delta=delta)
    assert (caught.value.status, caught.value.code) == (409, "digest_mismatch")
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn, target.records) == ("incoming", 60, 10)


async def test_a_copy_below_the_last_rounds_end_lsn_is_complete(pair: Pair) -> None:
    # The last delta round shipped (0, 10] after r00009 (LSN 10) was rewritten at LSN 11:
    # the range holds r00000..r00008 only, so the copy is at LSN 9, below the round's
    # end (the cutover's from_lsn), and lacks nothing the final delta does not bring.
    await _seed(pair, 10)
    await pair.client.put("orders", "r00009", b"rewritten")  # LSN 11
    round_changes = await _changes(pair, 10)
    assert [c.lsn for c in round_changes] == list(range(1, 10))
    await pair.east.registry.get("orders").apply_changes(round_changes)
    answer = await pair.admin_west.cutover("orders", cutover_request(pair.east, from_lsn=10))
    assert (answer.hold_lsn, answer.target_lsn, answer.records) == (11, 11, 1)
    source = await pair.admin_west.workload("orders")
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn, target.digest) == ("active", 11, source.digest)
    assert await pair.east.registry.get("orders").compute_digest() == source.digest


async def test_a_delta_at_a_burned_epoch_applies_nothing(pair: Pair) -> None:
    await _seed(pair, 30)
    await pair.admin_east.set_status("orders", "incoming", epoch=5)  # an undo burned 5
    digest = (await pair.admin_west.workload("orders")).digest
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.activate(
            "orders", min_lsn=30, digest=digest, epoch=5, delta=await _changes(pair, 30)
        )
    assert (caught.value.status, caught.value.code) == (409, "stale_epoch")
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn) == ("incoming", 0)


async def test_an_invalid_record_in_the_delta_is_a_400_and_applies_nothing(pair: Pair) -> None:
    await _seed(pair, 10)
    delta = [*await _changes(pair, 10), Change(lsn=11, key="", value=b"x")]  # empty key
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.activate("orders", min_lsn=11, delta=delta)
    assert (caught.value.status, caught.value.code) == (400, "invalid_record")
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn) == ("incoming", 0)


async def test_a_retried_delta_overlapping_an_applied_one_activates(pair: Pair) -> None:
    # A cut attempt's delta reached the target after its undo (applied, not activated);
    # the retry's delta starts at the same LSN: what the copy has is skipped, not
    # applied a second time (a local LSN is unique).
    await _seed(pair, 60)
    first = await _changes(pair, 50)
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.activate("orders", min_lsn=50, digest="0" * 64, delta=first)
    assert caught.value.code == "digest_mismatch"
    assert (await pair.admin_east.workload("orders")).lsn == 50  # applied, still incoming
    digest = (await pair.admin_west.workload("orders")).digest
    info = await pair.admin_east.activate(
        "orders", min_lsn=60, digest=digest, delta=await _changes(pair, 60)
    )
    assert (info.status, info.lsn, info.records, info.digest) == ("active", 60, 60, digest)


async def test_a_read_of_the_delta_too_slow_to_fit_is_cut_within_the_deadline(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The source's read of the final delta stalls (a reader busy behind the copies): it
    # is cut when the planned activation could no longer follow it, and undone at the
    # cut, before anything was sent to the target. As in test_hold_budget.py, a first
    # cutover measures this edge's steps, so the plan keeps its usual reserve.
    for name in ("warm", "orders"):
        await pair.admin_west.create_workload(name)
        await pair.admin_east.create_workload(name, "incoming")
    await pair.client.put("warm", "k", b"v")
    await pair.admin_west.cutover("warm", cutover_request(pair.east))
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(30)])
    store = pair.west.registry.get("orders")
    real_scan = store.scan_changes
    go = anyio.Event()

    async def stalled(*args: Any, **kwargs: Any) -> list[Change]:
        await go.wait()
        return await real_scan(*args, **kwargs)

    monkeypatch.setattr(store, "scan_changes", stalled)
    try:
        with capture_logs() as logs, pytest.raises(EdgeHTTPError) as caught:
            await pair.admin_west.cutover("orders", cutover_request(pair.east, DEADLINE_MS))
    finally:
        go.set()
    assert (caught.value.status, caught.value.code) == (502, "cutover_failed")
    assert "the final delta was cut to keep the hold within" in caught.value.message
    [failed] = [e for e in logs if e["event"] == "cutover_failed"]
    assert failed["undo_began_ms"] < DEADLINE_MS  # cut before the deadline
    assert caught.value.held_ms is not None
    assert caught.value.held_ms < DEADLINE_MS + SLACK_MS  # at the cut: the read never ended
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn) == ("incoming", 0)  # nothing reached it
    assert await pair.client.put("orders", "after", b"x") == 31  # the source serves
