"""ChunkCodec: round-trips, raw fallback, checksums and refusals of bad chunks."""

from __future__ import annotations

import os
import random
import zlib

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.errors import ConfigError
from edge_actors.wire import (
    Change,
    ChecksumMismatch,
    Chunk,
    ChunkCodec,
    DecompressionBomb,
    FrameTooLarge,
    MalformedFrame,
    WireError,
    WireLimits,
    chunk_checksum,
    decode_frame,
    describe_decode_error,
    encode_frame,
)

from .strategies import changes

_CODEC = ChunkCodec(skip_after=None)  # shared across tests: no adaptive state
_RAW_CODEC = ChunkCodec(compression=False)


def _encode(codec: ChunkCodec, items: list[Change], seq: int = 0) -> Chunk:
    return codec.encode_chunk(migration_id="m-1", workload="cart", seq=seq, changes=items)


def _raw_chunk(raw: bytes, *, lsn_from: int = 1, lsn_to: int = 10, **fields: object) -> Chunk:
    """A raw-codec chunk around ``raw`` with a correct length and checksum."""
    chunk = Chunk(
        migration_id="m-1",
        workload="cart",
        seq=7,
        lsn_from=lsn_from,
        lsn_to=lsn_to,
        codec="raw",
        raw_len=len(raw),
        checksum=chunk_checksum(raw),
        payload=raw,
    )
    return msgspec.structs.replace(chunk, **fields)


def _compressible(count: int) -> list[Change]:
    return [Change(lsn=i, key=f"user:{i}", value=b"status=active;" * 70) for i in range(1, count)]


@given(changes())
@settings(max_examples=150)
def test_chunks_round_trip_through_the_wire(items: list[Change]) -> None:
    for codec in (_CODEC, _RAW_CODEC):
        chunk = _encode(codec, items)
        assert (chunk.lsn_from, chunk.lsn_to) == (items[0].lsn, items[-1].lsn)
        assert chunk.raw_len == len(msgspec.msgpack.encode(items))
        received = decode_frame(encode_frame(chunk))
        assert isinstance(received, Chunk)
        assert codec.decode_chunk(received) == items


@given(changes())
@settings(max_examples=100)
def test_compression_is_used_only_when_it_shrinks(items: list[Change]) -> None:
    chunk = _encode(_CODEC, items)
    if chunk.codec == "zstd":
        assert len(chunk.payload) < chunk.raw_len
    else:
        assert chunk.payload == msgspec.msgpack.encode(items)
    assert _encode(_RAW_CODEC, items).codec == "raw"


def test_compressible_values_go_zstd_and_random_values_go_raw() -> None:
    codec = ChunkCodec()  # fresh: the shared one may be skipping after earlier examples
    compressible = _encode(codec, _compressible(100))
    assert compressible.codec == "zstd"
    assert len(compressible.payload) * 10 < compressible.raw_len
    assert _encode(codec, _noise(50)).codec == "raw"


def _noise(count: int, seed: int = 0) -> list[Change]:
    rng = random.Random(seed)
    return [Change(lsn=i, key=f"k{i}", value=rng.randbytes(1024)) for i in range(1, count)]


def test_compression_is_skipped_after_incompressible_chunks_and_resampled() -> None:
    codec = ChunkCodec(skip_after=4, resample_every=8)
    sent = [_encode(codec, _noise(20, seed), seed) for seed in range(4)]
    assert codec.compression_tried == 4
    assert codec.compression_skipped == 0
    sent += [_encode(codec, _noise(20, seed), seed) for seed in range(4, 11)]
    assert (codec.compression_tried, codec.compression_skipped) == (4, 7)
    sent.append(_encode(codec, _noise(20, 11), 11))  # the 8th chunk since: sampled again
    assert (codec.compression_tried, codec.compression_skipped) == (5, 7)
    sent += [_encode(codec, _noise(20, seed), seed) for seed in range(12, 19)]
    assert (codec.compression_tried, codec.compression_skipped) == (5, 14)
    assert all(chunk.codec == "raw" for chunk in sent)
    assert [codec.decode_chunk(c) for c in sent] == [_noise(20, s) for s in range(19)]


def test_compression_resumes_when_the_data_becomes_compressible() -> None:
    codec = ChunkCodec(skip_after=2, resample_every=4)
    for seed in range(2):
        _encode(codec, _noise(20, seed), seed)
    skipped = [_encode(codec, _compressible(100), seq) for seq in range(3)]
    assert [chunk.codec for chunk in skipped] == ["raw"] * 3  # skipping: not even tried
    resampled = _encode(codec, _compressible(100), 3)
    assert resampled.codec == "zstd"
    after = [_encode(codec, _compressible(100), seq) for seq in range(4, 10)]
    assert [chunk.codec for chunk in after] == ["zstd"] * 6
    assert (codec.compression_tried, codec.compression_skipped) == (9, 3)
    assert codec.decode_chunk(after[-1]) == _compressible(100)


def test_one_compressible_chunk_among_random_ones_resets_the_count() -> None:
    codec = ChunkCodec(skip_after=3)
    for seq, items in enumerate([_noise(20), _noise(20), _compressible(50), _noise(20)]):
        _encode(codec, items, seq)
    assert _encode(codec, _noise(20), 9).codec == "raw"
    assert (codec.compression_tried, codec.compression_skipped) == (5, 0)


def test_skip_after_none_tries_every_chunk() -> None:
    codec = ChunkCodec(skip_after=None)
    for seq in range(40):
        _encode(codec, _noise(5, seq), seq)
    assert (codec.compression_tried, codec.compression_skipped) == (40, 0)


@given(st.lists(st.tuples(st.booleans(), changes()), min_size=1, max_size=30))
@settings(max_examples=60)
def test_adaptive_codec_round_trips_any_mix_of_chunks(
    batches: list[tuple[bool, list[Change]]],
) -> None:
    codec = ChunkCodec(skip_after=2, resample_every=3)
    receiver = ChunkCodec()
    for seq, (noisy, items) in enumerate(batches):
        sent = _noise(10, seq) if noisy else items
        chunk = _encode(codec, sent, seq)
        if chunk.codec == "zstd":
            assert len(chunk.payload) < chunk.raw_len
        received = decode_frame(encode_frame(chunk))
        assert isinstance(received, Chunk)
        assert receiver.decode_chunk(received) == sent
    assert codec.compression_tried + codec.compression_skipped == len(batches)


@pytest.mark.parametrize("field", ["skip_after", "resample_every"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_skip_counts_must_be_positive_ints(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        ChunkCodec(**{field: value})  # type: ignore[arg-type]


def test_lsn_bounds_are_lowest_and_highest() -> None:
    items = [Change(5, "a", None), Change(3, "b", b"x"), Change(9, "c", b"y")]
    chunk = _encode(_CODEC, items)
    assert (chunk.lsn_from, chunk.lsn_to) == (3, 9)
    assert _CODEC.decode_chunk(chunk) == items


def test_one_codec_serves_many_chunks() -> None:
    codec = ChunkCodec(level=9)
    batches = [_compressible(n) for n in (10, 200, 30)]
    sent = [_encode(codec, batch, seq) for seq, batch in enumerate(batches)]
    assert [codec.decode_chunk(chunk) for chunk in sent] == batches


def test_corrupt_raw_payload_fails_the_checksum() -> None:
    chunk = _encode(_RAW_CODEC, [Change(1, "k", b"value")])
    flipped = bytearray(chunk.payload)
    flipped[-1] ^= 0x01
    bad = msgspec.structs.replace(chunk, payload=bytes(flipped))
    with pytest.raises(ChecksumMismatch, match=r"is 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}"):
        _RAW_CODEC.decode_chunk(bad)


def test_the_checksum_is_the_low_32_bits_of_xxh3_64() -> None:
    # XXH3-64 of empty input is 0x2D06800538D394C2 (the reference implementation's value)
    assert chunk_checksum(b"") == 0x38D394C2
    raw = msgspec.msgpack.encode([Change(1, "k", b"value")])
    assert _encode(_RAW_CODEC, [Change(1, "k", b"value")]).checksum == chunk_checksum(raw)


def test_a_protocol_1_crc32_checksum_is_refused() -> None:
    chunk = _encode(_RAW_CODEC, [Change(1, "k", b"value")])
    old = msgspec.structs.replace(chunk, checksum=zlib.crc32(chunk.payload))
    assert old.checksum != chunk.checksum
    with pytest.raises(ChecksumMismatch, match=f"expected {old.checksum:#010x}"):
        _RAW_CODEC.decode_chunk(old)


def test_zstd_chunk_with_wrong_checksum_fails() -> None:
    chunk = _encode(_CODEC, _compressible(50))
    assert chunk.codec == "zstd"
    bad = msgspec.structs.replace(chunk, checksum=chunk.checksum ^ 0xFFFF)
    with pytest.raises(ChecksumMismatch, match=f"expected {bad.checksum:#010x}"):
        _CODEC.decode_chunk(bad)


@given(st.data())
@settings(max_examples=150)
def test_corrupt_zstd_payload_is_refused_or_decodes_to_the_same_changes(
    data: st.DataObject,
) -> None:
    """A flipped payload byte never yields different changes: refused, or harmless.

    Some flips (a reserved bit of the zstd frame header, for one) decode to the very same
    bytes; the CRC then matches and accepting them is correct. What must never happen is a
    chunk accepted with changes other than the ones sent.
    """
    changes = _compressible(30)
    chunk = _encode(_CODEC, changes)
    position = data.draw(st.integers(min_value=0, max_value=len(chunk.payload) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    corrupt = bytearray(chunk.payload)
    corrupt[position] ^= flip
    try:
        decoded = _CODEC.decode_chunk(msgspec.structs.replace(chunk, payload=bytes(corrupt)))
    except WireError:
        return
    assert decoded == changes


def test_a_payload_flip_that_changes_the_bytes_is_refused() -> None:
    """Flipping the low bit of any one byte of a zstd chunk is refused, bar a few header bits."""
    changes = _compressible(30)
    chunk = _encode(_CODEC, changes)
    refused = 0
    for position in range(len(chunk.payload)):
        corrupt = bytearray(chunk.payload)
        corrupt[position] ^= 0x01
        try:
            decoded = _CODEC.decode_chunk(msgspec.structs.replace(chunk, payload=bytes(corrupt)))
        except WireError:
            refused += 1
            continue
        assert decoded == changes, f"flip at byte {position} was accepted with other changes"
    # Nearly every position matters; only header bits that do not change the content pass.
    assert refused >= len(chunk.payload) - 8


def test_garbage_change_list_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="bad change list"):
        _CODEC.decode_chunk(_raw_chunk(b"\x93\x01\xa1k"))
    with pytest.raises(MalformedFrame, match="bad change list"):
        _CODEC.decode_chunk(_raw_chunk(msgspec.msgpack.encode([[-1, "k", None]])))
    with pytest.raises(MalformedFrame, match="bad change list: invalid UTF-8"):
        _CODEC.decode_chunk(_raw_chunk(b"\x91\x93\x01\xa1\xff\xc0"))


def test_change_outside_the_declared_range_is_malformed() -> None:
    raw = msgspec.msgpack.encode([Change(11, "k", b"v")])
    with pytest.raises(MalformedFrame, match=r"change LSN 11 is outside \[1, 10\]"):
        _CODEC.decode_chunk(_raw_chunk(raw))


def test_empty_chunks_are_refused_both_ways() -> None:
    with pytest.raises(MalformedFrame, match="at least one change"):
        _CODEC.encode_chunk(migration_id="m", workload="w", seq=0, changes=[])
    with pytest.raises(MalformedFrame, match="carries no change"):
        _CODEC.decode_chunk(_raw_chunk(msgspec.msgpack.encode([])))


def test_too_many_changes_are_refused_both_ways() -> None:
    codec = ChunkCodec(limits=WireLimits(max_chunk_changes=10))
    items = [Change(i, "k", None) for i in range(1, 12)]
    with pytest.raises(FrameTooLarge, match="11 changes, above max_chunk_changes 10"):
        _encode(codec, items)
    with pytest.raises(MalformedFrame, match="bad change list"):
        codec.decode_chunk(_encode(_CODEC, items))


def test_encoder_refuses_what_the_peer_would_refuse() -> None:
    big = [Change(1, "k", os.urandom(4096))]
    with pytest.raises(FrameTooLarge, match="above max_raw_bytes 1024"):
        _encode(ChunkCodec(limits=WireLimits(max_raw_bytes=1024)), big)
    with pytest.raises(FrameTooLarge, match="does not fit max_frame_bytes 4096"):
        _encode(ChunkCodec(limits=WireLimits(max_frame_bytes=4096)), big)


def test_zstd_frame_must_declare_its_content_size() -> None:
    raw = msgspec.msgpack.encode(_compressible(20))
    payload = zstandard.ZstdCompressor(write_content_size=False).compress(raw)
    chunk = _raw_chunk(raw, lsn_to=100, codec="zstd", payload=payload)
    with pytest.raises(MalformedFrame, match="does not declare its content size"):
        _CODEC.decode_chunk(chunk)


def test_zstd_payload_with_trailing_data_is_malformed() -> None:
    raw = msgspec.msgpack.encode(_compressible(20))
    payload = zstandard.ZstdCompressor().compress(raw) + b"smuggled"
    chunk = _raw_chunk(raw, lsn_to=100, codec="zstd", payload=payload)
    with pytest.raises(MalformedFrame, match="unused data"):
        _CODEC.decode_chunk(chunk)


def test_zstd_payload_that_is_not_zstd_is_malformed() -> None:
    chunk = _raw_chunk(b"not zstd at all", codec="zstd")
    with pytest.raises(MalformedFrame, match="bad zstd frame header"):
        _CODEC.decode_chunk(chunk)


@pytest.mark.parametrize("level", [0, 23, -1, True, 3.0, "3"])
def test_level_outside_1_to_22_is_a_config_error(level: object) -> None:
    with pytest.raises(ConfigError, match=r"ChunkCodec\.level"):
        ChunkCodec(level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_frame_bytes", 0), ("max_frame_bytes", 2**32), ("max_raw_bytes", -5)],
)
def test_impossible_limits_are_config_errors(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=rf"WireLimits\.{field}"):
        WireLimits(**{field: value})


def test_raw_len_above_limit_is_refused_before_decompressing() -> None:
    codec = ChunkCodec(limits=WireLimits(max_raw_bytes=100))
    chunk = _encode(_CODEC, _compressible(20))
    with pytest.raises(DecompressionBomb, match="above max_raw_bytes 100"):
        codec.decode_chunk(chunk)


@pytest.mark.parametrize(
    "error",
    [
        UnicodeDecodeError("utf-8", b"\xe3\xa9", 0, 1, "invalid continuation byte"),
        msgspec.DecodeError("Invalid UTF-8 encoded string"),
    ],
)
def test_bad_utf8_is_named_the_same_whatever_msgspec_raises(error: Exception) -> None:
    """msgspec < 0.23 raised UnicodeDecodeError, 0.23 its own DecodeError: one message."""
    assert describe_decode_error(error) == "invalid UTF-8 in a string"


def test_decode_errors_are_described_in_the_projects_words() -> None:
    shape = msgspec.ValidationError("Expected `object`, got `array`")
    field = msgspec.ValidationError("Expected `int` >= 0 - at `$.seq`")
    syntax = msgspec.DecodeError("MessagePack data is malformed: invalid opcode")
    assert describe_decode_error(shape).startswith("wrong shape: ")
    assert describe_decode_error(field).startswith("invalid field `seq`: ")
    assert describe_decode_error(syntax).startswith("not msgpack: ")
