"""What a link remembers of recent zstd outcomes (layer: wire; no I/O).

A :class:`~edge_actors.wire.ChunkCodec` is made per transfer stream, and a stream of a
few megabytes is only a handful of chunks: a codec that learns on its own that the data
does not compress has spent most of its stream learning it. A :class:`CompressionMemory`
is shared by the codecs of every stream on one link (source edge -> target edge, owned
by that link's object on the source), so a stream starts where the link's last chunks
left off: a new stream on a link whose recent chunks did not compress starts skipping
zstd, the link tries one chunk in ``resample_every`` of those it skips, and a sample
that compresses well turns compression back on for every stream that follows the link.

The state is three counters and a streak: O(1), whatever the traffic. Codecs encode in
worker threads (large pages) and on the event loop (small ones) at the same time, so
every read-modify-write is done under one :class:`threading.Lock`, held for a few
integer operations and never across compression.
"""

from __future__ import annotations

import threading

import msgspec

__all__ = ["CompressionMemory", "CompressionStats"]


class CompressionStats(msgspec.Struct, frozen=True):
    """A snapshot of a :class:`CompressionMemory`.

    Attributes:
        tried: chunks zstd was tried on, by every codec sharing the memory.
        skipped: chunks sent raw without trying zstd because the link was skipping.
        poor_streak: tried chunks in a row, across the link, that did not compress.
    """

    tried: int
    skipped: int
    poor_streak: int


class CompressionMemory:
    """The recent zstd outcomes of one link, shared by the codecs of its streams.

    Thread-safe: codecs call it from worker threads and from the event loop.
    """

    __slots__ = ("_lock", "_poor", "_since_try", "_skipped", "_tried")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._poor = 0  # tried chunks in a row that did not compress
        self._since_try = 0  # chunks skipped since the last one tried while skipping
        self._tried = 0
        self._skipped = 0

    def choose(self, *, skip_after: int, resample_every: int, skipping: bool | None) -> bool:
        """Decide whether a codec tries zstd on its next chunk, and count the decision.

        Args:
            skip_after: the codec's threshold: the link skips once this many tried
                chunks in a row did not compress.
            resample_every: while skipping, one chunk in this many (on the whole link)
                is tried.
            skipping: the codec's own verdict, which wins over the link's: ``True`` (its
                own last ``skip_after`` tries did not compress), ``False`` (its last try
                compressed), ``None`` (no verdict yet: follow the link).

        Returns:
            ``True`` to try zstd (then :meth:`record` the outcome), ``False`` to send raw.
        """
        with self._lock:
            if skipping is None:
                skipping = self._poor >= skip_after
            if not skipping:
                return True
            if self._since_try + 1 >= resample_every:
                self._since_try = 0
                return True
            self._since_try += 1
            self._skipped += 1
            return False

    def record(self, *, compressed: bool) -> None:
        """Count one chunk zstd was tried on; ``compressed``: it saved enough to keep trying."""
        with self._lock:
            self._tried += 1
            self._poor = 0 if compressed else self._poor + 1

    def stats(self) -> CompressionStats:
        """Return a consistent snapshot of the counters."""
        with self._lock:
            return CompressionStats(self._tried, self._skipped, self._poor)
