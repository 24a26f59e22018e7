"""The chunk codec: ``Change`` lists <-> ``Chunk`` frames (layer: wire; no I/O).

A chunk's payload is the msgpack encoding of ``list[Change]``, zstd-compressed when that
makes it smaller. Compression adapts to the stream: after ``skip_after`` chunks in a row
that zstd shrank by less than 5% (random or already compressed values), the codec stops
trying and sends raw payloads, trying zstd again on one chunk in every
``resample_every``; a sample that compresses well turns compression back on for every
chunk. Given a :class:`CompressionMemory` shared by the codecs of one link, a codec
with no verdict of its own yet follows the link's recent outcomes (a new stream on a
link whose chunks did not compress starts skipping) and the link resamples as one; the
codec's own verdict, once it has one, wins. The decoder reads each chunk's ``codec``
field, so this is invisible to it.

Decoding refuses a bomb before it expands: the declared ``raw_len`` is checked against
the limit first, the zstd frame header must declare exactly ``raw_len``, and
decompression writes into a buffer of that size and no larger. The checksum
(:func:`chunk_checksum`) is the low 32 bits of the raw bytes' XXH3-64: it catches
corruption, not forgery (peers authenticate with the cluster token). Protocol 1 used
CRC-32 (``zlib.crc32``), which ran at about 1.9 GB/s here against 30 GB/s: 3-4 % of a
copy's CPU on each side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

import msgspec
import zstandard
from xxhash import xxh3_64_intdigest

from edge_actors.errors import ConfigError

from ._change import Change
from ._compression_memory import CompressionMemory
from ._errors import (
    ChecksumMismatch,
    DecompressionBomb,
    FrameTooLarge,
    MalformedFrame,
    describe_decode_error,
)
from ._frames import Chunk, ChunkCodecName, check_chunk
from ._limits import DEFAULT_LIMITS, WireLimits

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CHUNK_HEADER_BUDGET", "ChunkCodec", "chunk_checksum"]

CHUNK_HEADER_BUDGET: Final = 2048
"""Bytes reserved for a chunk frame's fields besides its payload."""

_LEVEL_MIN: Final = 1
_LEVEL_MAX: Final = 22
_ZSTD_OUTPUT_FULL: Final = "Destination buffer is too small"  # libzstd's dstSize_tooSmall
_POOR_SAVING: Final = 0.05  # a chunk zstd shrinks by less than this share "did not compress"


def chunk_checksum(raw: bytes) -> int:
    """The ``checksum`` of a chunk whose raw (uncompressed) bytes are ``raw``.

    The low 32 bits of XXH3-64 (seed 0), so it fits the frame's 32-bit field.
    """
    return xxh3_64_intdigest(raw) & 0xFFFF_FFFF


class ChunkCodec:
    """Packs change lists into chunks and unpacks them, within :class:`WireLimits`.

    The zstd compression and decompression contexts are created once and reused; they are
    not thread-safe, so one codec instance serves one task (make one per stream). Only
    the :class:`CompressionMemory` may be shared, between threads too.
    """

    def __init__(
        self,
        *,
        compression: bool = True,
        level: int = 3,
        limits: WireLimits = DEFAULT_LIMITS,
        skip_after: int | None = 4,
        resample_every: int = 32,
        memory: CompressionMemory | None = None,
    ) -> None:
        """Create a codec.

        Args:
            compression: Compress chunks with zstd (a payload that does not shrink goes raw).
            level: zstd level, 1 (fastest) to 22 (smallest); 3 is zstd's default.
            limits: Limits both ends use; :meth:`encode_chunk` refuses what a peer with the
                same limits would refuse.
            skip_after: Stop trying zstd after this many chunks in a row did not compress
                (saved under 5%); ``None`` tries every chunk.
            resample_every: While skipping, try zstd again on one chunk in this many.
            memory: The link's memory of recent outcomes, shared with the codecs of its
                other streams; ``None``: a private one (the codec adapts on its own).

        Raises:
            ConfigError: ``level`` is not an int in 1..22, or ``skip_after`` /
                ``resample_every`` is not a positive int.
        """
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(f"ChunkCodec.level: must be an int in 1..22, got {level!r}")
        if not _LEVEL_MIN <= level <= _LEVEL_MAX:
            raise ConfigError(f"ChunkCodec.level: {level} is outside 1..22")
        for field, count in (("skip_after", skip_after), ("resample_every", resample_every)):
            if count is not None and (
                isinstance(count, bool) or not isinstance(count, int) or count < 1
            ):
                raise ConfigError(f"ChunkCodec.{field}: must be a positive int, got {count!r}")
        self.compression = compression
        self.level = level
        self.limits = limits
        self.skip_after = skip_after
        self.resample_every = resample_every
        self.compression_tried = 0
        """Chunks zstd was tried on (encoding side)."""
        self.compression_skipped = 0
        """Chunks sent raw without trying zstd, because recent chunks did not compress."""
        self.memory = memory if memory is not None else CompressionMemory()
        self._poor = 0  # chunks in a row, among those tried, that did not compress
        self._tried_any = False
        self._compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
        self._decompressor = zstandard.ZstdDecompressor()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[list[Change]] = msgspec.msgpack.Decoder(
            Annotated[list[Change], msgspec.Meta(max_length=limits.max_chunk_changes)]
        )

    def encode_chunk(
        self, *, migration_id: str, workload: str, seq: int, changes: Sequence[Change]
    ) -> Chunk:
        """Encode ``changes`` as chunk ``seq`` of a workload's stream.

        ``lsn_from``/``lsn_to`` are the lowest/highest change LSN (the first/last of an
        LSN-ordered scan).

        Raises:
            MalformedFrame: ``changes`` is empty.
            FrameTooLarge: more than ``max_chunk_changes`` changes, raw bytes above
                ``max_raw_bytes``, or a payload that would not fit in ``max_frame_bytes``;
                send fewer changes per chunk.
        """
        if not changes:
            raise MalformedFrame(f"chunk seq {seq}: a chunk carries at least one change")
        limits = self.limits
        if len(changes) > limits.max_chunk_changes:
            raise FrameTooLarge(
                f"chunk seq {seq}: {len(changes)} changes, above max_chunk_changes "
                f"{limits.max_chunk_changes}"
            )
        raw = self._encoder.encode(changes if isinstance(changes, list | tuple) else list(changes))
        if len(raw) > limits.max_raw_bytes:
            raise FrameTooLarge(
                f"chunk seq {seq}: {len(raw)} raw bytes, above max_raw_bytes {limits.max_raw_bytes}"
            )
        codec: ChunkCodecName = "raw"
        payload = raw
        if self.compression and self._try_compression():
            packed = self._compressor.compress(raw)
            self.compression_tried += 1
            if len(packed) < len(raw):
                codec, payload = "zstd", packed
            compressed = len(packed) <= len(raw) * (1 - _POOR_SAVING)
            self._poor = 0 if compressed else self._poor + 1
            self._tried_any = True
            self.memory.record(compressed=compressed)
        if len(payload) > limits.max_frame_bytes - CHUNK_HEADER_BUDGET:
            raise FrameTooLarge(
                f"chunk seq {seq}: {codec} payload of {len(payload)} bytes does not fit "
                f"max_frame_bytes {limits.max_frame_bytes}"
            )
        lsns = [change.lsn for change in changes]
        return Chunk(
            migration_id=migration_id,
            workload=workload,
            seq=seq,
            lsn_from=min(lsns),
            lsn_to=max(lsns),
            codec=codec,
            raw_len=len(raw),
            checksum=chunk_checksum(raw),
            payload=payload,
        )

    def raw_length(self, changes: Sequence[Change]) -> int:
        """The ``raw_len`` a chunk of ``changes`` would declare (nothing is compressed)."""
        return len(self._encoder.encode(list(changes)))

    def decode_chunk(self, chunk: Chunk) -> list[Change]:
        """Return the changes of ``chunk`` after every bound and the checksum are verified.

        Raises:
            DecompressionBomb: ``raw_len`` above ``max_raw_bytes``, or a zstd frame that
                declares (or expands to) more than ``raw_len``; refused before expanding.
            MalformedFrame: not one zstd frame with its content size, a payload of the wrong
                length, a change list that does not decode, an LSN outside
                ``[lsn_from, lsn_to]``, or an empty list.
            ChecksumMismatch: the raw bytes' :func:`chunk_checksum` is not
                ``chunk.checksum``.
        """
        check_chunk(chunk, self.limits)
        raw = chunk.payload if chunk.codec == "raw" else self._decompress(chunk)
        if len(raw) != chunk.raw_len:
            raise MalformedFrame(
                f"chunk seq {chunk.seq}: payload expands to {len(raw)} bytes, "
                f"raw_len declares {chunk.raw_len}"
            )
        actual = chunk_checksum(raw)
        if actual != chunk.checksum:
            raise ChecksumMismatch(
                f"chunk seq {chunk.seq}: checksum of the {len(raw)} raw bytes is "
                f"{actual:#010x}, expected {chunk.checksum:#010x}"
            )
        try:
            changes = self._decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # bad UTF-8 in a key
            raise MalformedFrame(
                f"chunk seq {chunk.seq}: bad change list: {describe_decode_error(exc)}"
            ) from exc
        except RecursionError as exc:  # pragma: no cover - needs a checksum-valid bomb
            raise MalformedFrame(f"chunk seq {chunk.seq}: change list nested too deeply") from exc
        if not changes:
            raise MalformedFrame(f"chunk seq {chunk.seq}: carries no change")
        for change in changes:
            if not chunk.lsn_from <= change.lsn <= chunk.lsn_to:
                raise MalformedFrame(
                    f"chunk seq {chunk.seq}: change LSN {change.lsn} is outside "
                    f"[{chunk.lsn_from}, {chunk.lsn_to}]"
                )
        return changes

    def _decompress(self, chunk: Chunk) -> bytes:
        """Expand a zstd payload into at most ``chunk.raw_len`` bytes."""
        try:
            declared = zstandard.frame_content_size(chunk.payload)
        except zstandard.ZstdError as exc:
            raise MalformedFrame(f"chunk seq {chunk.seq}: bad zstd frame header: {exc}") from exc
        if declared == -1:
            raise MalformedFrame(
                f"chunk seq {chunk.seq}: zstd frame header does not declare its content size"
            )
        if declared != chunk.raw_len:
            raise DecompressionBomb(
                f"chunk seq {chunk.seq}: zstd frame declares {declared} bytes, "
                f"raw_len declares {chunk.raw_len}"
            )
        if declared == 0:
            raise MalformedFrame(f"chunk seq {chunk.seq}: zstd frame is empty")
        try:
            # The header's content size (== raw_len <= max_raw_bytes) sizes the output
            # buffer; zstd stops with an error rather than write past it.
            return self._decompressor.decompress(
                chunk.payload, max_output_size=chunk.raw_len, allow_extra_data=False
            )
        except zstandard.ZstdError as exc:
            if _ZSTD_OUTPUT_FULL in str(exc):
                raise DecompressionBomb(
                    f"chunk seq {chunk.seq}: zstd payload expands beyond its declared "
                    f"{chunk.raw_len} bytes; refused unexpanded"
                ) from exc
            raise MalformedFrame(f"chunk seq {chunk.seq}: zstd payload: {exc}") from exc

    def _try_compression(self) -> bool:
        """Whether to try zstd on the next chunk (see the module docstring)."""
        if self.skip_after is None:
            return True
        own: bool | None = None  # no verdict of its own yet: follow the memory
        if self._poor >= self.skip_after:
            own = True
        elif self._tried_any and self._poor == 0:
            own = False
        if self.memory.choose(
            skip_after=self.skip_after, resample_every=self.resample_every, skipping=own
        ):
            return True
        self.compression_skipped += 1
        return False
