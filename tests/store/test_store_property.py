"""Property tests: any history, copied by delta rounds, yields equal records and digests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_actors.store import WorkloadStore

_keys = st.sampled_from(["a", "b", "c", "d", "e", "ключ", "k" * 40])
_values = st.binary(max_size=64)
_op = st.tuples(_keys, st.none() | _values)
# A round is a list of writes: single ops (put/delete) or atomic batches.
_round = st.lists(st.one_of(_op.map(lambda op: [op]), st.lists(_op, max_size=5)), max_size=12)


async def _live_records(store: WorkloadStore) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    for change in await store.scan_changes(0, limit=100_000):
        if change.value is not None:
            records[change.key] = change.value
    return records


async def _apply_ops(store: WorkloadStore, writes: list[list[tuple[str, bytes | None]]]) -> None:
    for ops in writes:
        if len(ops) == 1:
            key, value = ops[0]
            await (store.delete(key) if value is None else store.put(key, value))
        else:
            await store.write_batch(ops)


async def _ship(source: WorkloadStore, target: WorkloadStore, after: int, page: int) -> int:
    upto = source.lsn
    while changes := await source.scan_changes(after, upto, limit=page):
        await target.apply_changes(changes)
        after = changes[-1].lsn
    return upto


async def _scenario(
    directory: Path, rounds: list[list[list[tuple[str, bytes | None]]]], page: int
) -> None:
    async with (
        await WorkloadStore.open(directory / "a.sqlite", "a", create=True) as a,
        await WorkloadStore.open(directory / "b.sqlite", "b", create=True) as b,
        await WorkloadStore.open(directory / "c.sqlite", "c", create=True) as c,
    ):
        shipped = 0
        expected: dict[str, bytes] = {}
        for writes in rounds:
            await _apply_ops(a, writes)
            for ops in writes:
                for key, value in ops:
                    if value is None:
                        expected.pop(key, None)
                    else:
                        expected[key] = value
            shipped = await _ship(a, b, shipped, page)  # pre-copy: one delta per round
        await _ship(b, b, 0, page)  # re-applying a store to itself changes nothing
        await _ship(a, b, 0, page)  # nor does re-shipping everything
        # C receives only the final state, in one pass, in reverse page order.
        everything = await a.scan_changes(0, limit=100_000)
        await c.apply_changes(list(reversed(everything)))

        stats_a, stats_b, stats_c = await a.stats(), await b.stats(), await c.stats()
        assert stats_a == stats_b == stats_c
        assert stats_a == await a.compute_stats()
        assert stats_b == await b.compute_stats()
        assert await _live_records(a) == await _live_records(b) == expected
        assert stats_a.records == len(expected)
        assert await b.scan_changes(0, limit=100_000) == everything


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds=st.lists(_round, min_size=1, max_size=4), page=st.integers(1, 8))
def test_delta_copies_converge_to_equal_records_and_digests(
    rounds: list[list[list[tuple[str, bytes | None]]]], page: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        anyio.run(_scenario, Path(directory), rounds, page)


@settings(max_examples=30, deadline=None)
@given(
    records=st.dictionaries(_keys, _values, max_size=7),
    data=st.data(),
)
def test_digest_is_independent_of_write_order(
    records: dict[str, bytes], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(list(records.items())))
    noise = data.draw(st.lists(_op, max_size=6))

    async def scenario(directory: Path) -> None:
        async with (
            await WorkloadStore.open(directory / "x.sqlite", "x", create=True) as x,
            await WorkloadStore.open(directory / "y.sqlite", "y", create=True) as y,
        ):
            for key, value in records.items():
                await x.put(key, value)
            await y.write_batch(noise)  # a different history first ...
            for key in {k for k, _ in noise} - set(records):
                await y.delete(key)
            await y.write_batch(order)  # ... then the same content, in another order
            assert (await x.stats()).digest == (await y.stats()).digest
            assert (await y.stats()).digest == await y.compute_digest()

    with tempfile.TemporaryDirectory() as directory:
        anyio.run(scenario, Path(directory))
