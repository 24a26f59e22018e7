"""``/metrics`` counts each link's zstd decisions, shared by the streams on that link."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

import pytest

from edge_actors.transfer import TransferSpec
from edge_actors.wire import ChunkCodec

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
_SKIP_AFTER = ChunkCodec().skip_after


def _chunks(metrics: str, outcome: str) -> float:
    found = re.search(
        r"^edge_transfer_compression_chunks_total\{edge=\"edge-west\","
        rf"outcome=\"{outcome}\",target=\"edge-east\"\}} (\S+)$",
        metrics,
        re.MULTILINE,
    )
    assert found, f"no {outcome} series in:\n{metrics}"
    return float(found.group(1))


async def test_streams_on_one_link_share_what_zstd_did_and_metrics_count_it(pair: Pair) -> None:
    _west, east, admin_west, admin_east, client = pair
    rng = random.Random(12)
    finals = []
    for n, workload in enumerate(["noise-a", "noise-b"]):
        await admin_west.create_workload(workload)
        await admin_east.create_workload(workload, status="incoming")
        await client.batch(workload, [(f"k{i}", rng.randbytes(1000)) for i in range(400)])
        spec = TransferSpec(
            transfer_id=f"t-{n}",
            migration_id="m-1",
            workload=workload,
            target_name=east.name,
            target_url=east.url,
            target_token=TOKEN,
            batch_size=50,
        )
        finals.append(await admin_west.run_transfer(spec))
        assert (await admin_east.workload(workload)).digest == (
            await admin_west.workload(workload)
        ).digest
    chunks = sum(final.chunks for final in finals)
    assert chunks < 32  # below one resample period of the link: no sample falls in
    metrics = await admin_west.metrics_text()
    assert _chunks(metrics, "tried") == _SKIP_AFTER  # the second stream tried zstd 0 times
    assert _chunks(metrics, "skipped") == chunks - _SKIP_AFTER
