"""CompressionMemory: the codecs of one link's streams share what zstd did lately."""

from __future__ import annotations

import random
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.wire import (
    Change,
    Chunk,
    ChunkCodec,
    CompressionMemory,
    CompressionStats,
    decode_frame,
    encode_frame,
)

from .strategies import changes


def _noise(count: int, seed: int) -> list[Change]:
    rng = random.Random(seed)
    return [Change(lsn=i, key=f"k{i}", value=rng.randbytes(1024)) for i in range(1, count)]


def _text(count: int) -> list[Change]:
    return [Change(lsn=i, key=f"user:{i}", value=b"status=active;" * 70) for i in range(1, count)]


def _codecs(codec: ChunkCodec, batches: list[list[Change]]) -> list[str]:
    return [
        codec.encode_chunk(migration_id="m-1", workload="w", seq=seq, changes=items).codec
        for seq, items in enumerate(batches)
    ]


def test_a_new_codec_on_a_link_that_did_not_compress_starts_skipping() -> None:
    link = CompressionMemory()
    first = ChunkCodec(skip_after=3, resample_every=10, memory=link)
    assert _codecs(first, [_noise(20, s) for s in range(5)]) == ["raw"] * 5
    assert link.stats() == CompressionStats(tried=3, skipped=2, poor_streak=3)

    second = ChunkCodec(skip_after=3, resample_every=10, memory=link)
    assert _codecs(second, [_noise(20, s) for s in range(5)]) == ["raw"] * 5
    assert (second.compression_tried, second.compression_skipped) == (0, 5)
    assert link.stats() == CompressionStats(tried=3, skipped=7, poor_streak=3)


def test_the_link_resamples_as_one_and_a_good_sample_turns_compression_back_on() -> None:
    link = CompressionMemory()
    ChunkCodec(skip_after=2, resample_every=4, memory=link).encode_chunk(
        migration_id="m", workload="w", seq=1, changes=_noise(20, 0)
    )
    noisy = ChunkCodec(skip_after=2, resample_every=4, memory=link)
    _codecs(noisy, [_noise(20, 1)])
    assert link.stats().poor_streak == 2  # two streams, one poor try each: the link skips

    late = ChunkCodec(skip_after=2, resample_every=4, memory=link)
    assert _codecs(late, [_text(50)] * 3) == ["raw"] * 3  # skipped: 3 of the link's 4
    assert _codecs(late, [_text(50)]) == ["zstd"]  # the link's resample, on this stream
    assert link.stats().poor_streak == 0
    newcomer = ChunkCodec(skip_after=2, resample_every=4, memory=link)
    assert _codecs(newcomer, [_text(50)] * 3) == ["zstd"] * 3


def test_a_codec_with_its_own_verdict_keeps_it_whatever_the_link_says() -> None:
    link = CompressionMemory()
    text = ChunkCodec(skip_after=2, resample_every=50, memory=link)
    noise = ChunkCodec(skip_after=2, resample_every=50, memory=link)
    assert _codecs(text, [_text(40)]) == ["zstd"]
    sent = []
    for seed in range(10):  # interleaved: the random stream's poor tries do not stop text
        sent += _codecs(noise, [_noise(20, seed)])
        sent += _codecs(text, [_text(40)])
    assert sent == ["raw", "zstd"] * 10
    assert text.compression_skipped == 0
    assert (noise.compression_tried, noise.compression_skipped) == (2, 8)  # its own verdict


def test_a_private_memory_adapts_exactly_as_the_codec_did_alone() -> None:
    shared = ChunkCodec(skip_after=3, resample_every=5, memory=CompressionMemory())
    alone = ChunkCodec(skip_after=3, resample_every=5)
    batches = [_noise(10, s) for s in range(9)] + [_text(30)] * 6 + [_noise(10, 9)] * 12
    assert _codecs(shared, batches) == _codecs(alone, batches)
    assert (shared.compression_tried, shared.compression_skipped) == (
        alone.compression_tried,
        alone.compression_skipped,
    )
    assert alone.memory.stats() == shared.memory.stats()


@st.composite
def _plans(draw: st.DrawFn) -> list[tuple[int, bool, list[Change]]]:
    """Chunks of several streams, interleaved: (stream, random values?, changes)."""
    streams = draw(st.integers(min_value=1, max_value=4))
    return draw(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=streams - 1), st.booleans(), changes()),
            min_size=1,
            max_size=40,
        )
    )


@given(
    _plans(),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=6),
)
@settings(max_examples=60)
def test_streams_sharing_a_memory_round_trip_any_mix_of_codec_decisions(
    plan: list[tuple[int, bool, list[Change]]], skip_after: int, resample_every: int
) -> None:
    link = CompressionMemory()
    senders: dict[int, ChunkCodec] = {}
    receiver = ChunkCodec()
    for seq, (stream, noisy, items) in enumerate(plan):
        codec = senders.setdefault(
            stream, ChunkCodec(skip_after=skip_after, resample_every=resample_every, memory=link)
        )
        sent = _noise(8, seq) if noisy else items
        chunk = codec.encode_chunk(migration_id="m", workload=f"w{stream}", seq=seq, changes=sent)
        if chunk.codec == "zstd":
            assert len(chunk.payload) < chunk.raw_len
        received = decode_frame(encode_frame(chunk))
        assert isinstance(received, Chunk)
        assert receiver.decode_chunk(received) == sent
    stats = link.stats()
    assert stats.tried == sum(c.compression_tried for c in senders.values())
    assert stats.skipped == sum(c.compression_skipped for c in senders.values())
    assert stats.tried + stats.skipped == len(plan)


def test_codecs_in_threads_share_one_memory_without_losing_a_count() -> None:
    link = CompressionMemory()
    codecs = [ChunkCodec(skip_after=2, resample_every=3, memory=link) for _ in range(4)]
    start = threading.Barrier(len(codecs))

    def stream(codec: ChunkCodec, first_seed: int) -> None:
        start.wait()
        for seed in range(first_seed, first_seed + 60):
            items = _noise(4, seed) if seed % 5 else _text(8)
            codec.encode_chunk(migration_id="m", workload="w", seq=seed, changes=items)

    threads = [
        threading.Thread(target=stream, args=(codec, 1000 * n)) for n, codec in enumerate(codecs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = link.stats()
    assert stats.tried == sum(c.compression_tried for c in codecs)
    assert stats.skipped == sum(c.compression_skipped for c in codecs)
    assert stats.tried + stats.skipped == 60 * len(codecs)
