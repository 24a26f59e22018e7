"""Measure ChunkCodec throughput (not a test): ``python tests/wire/measure_codec.py``.

Prints MB/s of raw change-list bytes for encode (msgpack + zstd + checksum) and decode
(bounded zstd + checksum + msgpack) with 1 KiB values, compressible and random, per level.
Then the encode CPU of many short streams of random values on one link (a 4 MB
workload's pages: the ramp, then full pages), each stream with a codec of its own, with
and without the link's shared :class:`CompressionMemory`: CPU seconds
(``time.process_time``) and the chunks zstd was tried on.
"""

from __future__ import annotations

import random
import sys
import time

from edge_actors.wire import Change, ChunkCodec, CompressionMemory

_WORDS = ["active", "cart", "sku", "user", "price", "eur", "qty", "ts", "ok", "pending"]


def _value(rng: random.Random, compressible: bool) -> bytes:
    """1 KiB: JSON-like text from a small vocabulary, or random bytes."""
    if not compressible:
        return rng.randbytes(1024)
    text = " ".join(f'"{rng.choice(_WORDS)}": {rng.randrange(10**6)},' for _ in range(80))
    return text.encode()[:1024]


def _changes(compressible: bool, count: int) -> list[Change]:
    rng = random.Random(7)
    return [
        Change(lsn=i, key=f"user:{i:08d}", value=_value(rng, compressible))
        for i in range(1, count + 1)
    ]


def _measure(
    codec: ChunkCodec, changes: list[Change], rounds: int
) -> tuple[float, float, str, float]:
    chunk = codec.encode_chunk(migration_id="m", workload="w", seq=0, changes=changes)
    start = time.perf_counter()
    for seq in range(rounds):
        codec.encode_chunk(migration_id="m", workload="w", seq=seq, changes=changes)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(rounds):
        codec.decode_chunk(chunk)
    decode_s = time.perf_counter() - start
    total_mb = chunk.raw_len * rounds / 1e6
    return total_mb / encode_s, total_mb / decode_s, chunk.codec, len(chunk.payload) / chunk.raw_len


_STREAM_PAGES = (125, 250, 500, 1000, 1000, 1000, 31)  # a 4 MB workload of 1 KiB values


def _link_streams(streams: int, shared: bool) -> tuple[float, int, int]:
    """Encode ``streams`` streams of random values; CPU s, chunks tried and in all."""
    pages = [_changes(False, count) for count in _STREAM_PAGES]
    link = CompressionMemory() if shared else None
    tried = chunks = 0
    start = time.process_time()
    for _ in range(streams):
        codec = ChunkCodec(memory=link)
        for seq, changes in enumerate(pages):
            codec.encode_chunk(migration_id="m", workload="w", seq=seq, changes=changes)
        tried += codec.compression_tried
        chunks += len(pages)
    return time.process_time() - start, tried, chunks


def main() -> None:
    per_chunk, rounds = 256, 40  # 256 x 1 KiB values: a ~270 KB chunk
    version = sys.version.split()[0]
    print(f"python {version}, {per_chunk} changes of 1 KiB per chunk, {rounds} rounds")
    header = ("values", "codec", "sent as", "ratio", "encode MB/s", "decode MB/s")
    print("{:<13}{:<16}{:<9}{:>7}{:>13}{:>13}".format(*header))
    for compressible in (True, False):
        changes = _changes(compressible, per_chunk)
        for label, codec in (
            ("zstd level 1", ChunkCodec(level=1)),
            ("zstd level 3", ChunkCodec(level=3)),
            ("zstd level 9", ChunkCodec(level=9)),
            ("no compression", ChunkCodec(compression=False)),
        ):
            enc, dec, sent, ratio = _measure(codec, changes, rounds)
            kind = "compressible" if compressible else "random"
            print(f"{kind:<13}{label:<16}{sent:<9}{ratio:>7.3f}{enc:>13.0f}{dec:>13.0f}")
    streams = 30
    print(f"\n{streams} streams of random values on one link, pages {_STREAM_PAGES}")
    for label, shared in (("a codec alone", False), ("shared memory", True)):
        cpu_s, tried, chunks = _link_streams(streams, shared)
        print(f"{label:<16} encode CPU {cpu_s:6.3f} s   zstd tried on {tried} of {chunks} chunks")


if __name__ == "__main__":
    main()
