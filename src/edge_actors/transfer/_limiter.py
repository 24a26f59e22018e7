"""Token-bucket rate limiting of transfer links (layer: transfer).

One :class:`TokenBucket` per link (target edge) paces every chunk a sender puts on the
wire, so two concurrent streams to the same edge share that link's rate.
:class:`LinkLimiters` keeps the buckets by link name. A bucket is the source side's one
object per link, so it also carries the link's
:class:`~edge_actors.wire.CompressionMemory` (``bucket.compression``), which the codecs
of every stream on the link share. Imports only the leaves and ``wire``.

The bucket is a GCRA (virtual scheduling) limiter: a theoretical arrival time ``tat``
advances by ``nbytes / rate`` per grant and a request is granted once
``now >= tat - burst / rate``. That gives exact long-run rates (a late wake-up of less
than the burst time loses nothing) and bounds any window of length ``T`` to
``rate * T + burst + one request``: a request larger than the burst goes into debt
instead of being refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio

from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.errors import ConfigError
from edge_actors.schema import EDGE_NAME, EdgeName, convert, short
from edge_actors.units import parse_bandwidth_bps
from edge_actors.wire import CompressionMemory

if TYPE_CHECKING:
    from collections.abc import Callable

    from edge_actors.wire import CompressionStats

__all__ = ["DEFAULT_BURST_S", "LINK_NAME", "MAX_LINKS", "LinkLimiters", "TokenBucket"]

LINK_NAME = re.compile(EDGE_NAME)
"""A link is named by its target edge: the edge-name pattern of the topology."""

MAX_LINKS = 1024
"""Default bound of the link table (:class:`LinkLimiters`)."""

DEFAULT_BURST_S = 0.01
"""Default burst, as seconds of the rate: 10 ms keeps any 100 ms window within 1.1x."""


_SLACK_S = 1e-9
"""A wait shorter than this is none: a waiter woken at its computed deadline is granted
even if float rounding leaves a hair of delay (a ManualClock would never move that hair)."""


def check_link(link: object) -> str:
    """Return ``link`` if it is a valid link (edge) name, else ``ConfigError`` naming it."""
    if isinstance(link, str) and LINK_NAME.match(link):  # the hot path: every chunk's link
        return link
    name: str = convert(link, EdgeName, field="link")
    return name


def _check_nbytes(nbytes: object) -> None:
    # A negative count would hand out credit; a float or bool is a caller's mistake.
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ConfigError(f"nbytes: expected a non-negative byte count, got {short(nbytes)}")


def _check_rate(rate_bps: float | None, field: str = "rate_bps") -> float | None:
    if rate_bps is None:
        return None
    if (
        isinstance(rate_bps, bool)
        or not isinstance(rate_bps, int | float)
        or not rate_bps > 0
        or rate_bps == float("inf")
    ):
        raise ConfigError(
            f"{field}: expected a positive finite bits/s or None, got {short(rate_bps)}"
        )
    return float(rate_bps)


class TokenBucket:
    """An async token bucket measured in bytes, configured in bits per second.

    Concurrent :meth:`acquire` calls are served first come, first served. A request larger
    than the burst is granted when the bucket would be full and leaves the bucket in debt,
    so the overshoot in any window is at most one request.

    Args:
        rate_bps: the rate in bits per second; ``None`` means unlimited.
        burst_bytes: the bucket depth in bytes; by default 10 ms of the rate (it then
            follows :meth:`set_rate`).
        clock: whose monotonic time refills the bucket and whose sleep a waiter waits on.

    Raises:
        ConfigError: the rate is not positive and finite, or the burst is not positive.
    """

    def __init__(
        self,
        rate_bps: float | None,
        *,
        burst_bytes: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if burst_bytes is not None and (
            isinstance(burst_bytes, bool) or not isinstance(burst_bytes, int) or burst_bytes <= 0
        ):
            raise ConfigError(f"burst_bytes: expected a positive integer, got {burst_bytes!r}")
        self._rate_bps = _check_rate(rate_bps)
        self._burst_bytes = burst_bytes
        self._clock = clock
        self._tat = clock.monotonic()
        self._lock = anyio.Lock()
        self._changed = anyio.Event()
        self._granted_bytes = 0
        self.compression = CompressionMemory()
        """The link's recent zstd outcomes, shared by the codecs of its streams."""

    @classmethod
    def from_setting(cls, value: str | float | None, *, field: str = "bandwidth") -> TokenBucket:
        """Build a bucket from a user setting.

        Args:
            value: ``None`` (unlimited), a number of megabits per second (as
                ``bandwidth_limit_mbps``) or a string with a unit such as ``"50mbps"``.
            field: the setting's name, used in error messages.

        Raises:
            ConfigError: the value is not a positive bandwidth.
        """
        if value is None:
            return cls(None)
        return cls(parse_bandwidth_bps(value, field=field))

    @property
    def rate_bps(self) -> float | None:
        """The current rate in bits per second (``None``: unlimited)."""
        return self._rate_bps

    @property
    def burst_bytes(self) -> int | None:
        """The bucket depth in bytes at the current rate (``None`` when unlimited)."""
        if self._rate_bps is None:
            return None
        if self._burst_bytes is not None:
            return self._burst_bytes
        return max(1, int(self._rate_bps / 8 * DEFAULT_BURST_S))

    @property
    def granted_bytes(self) -> int:
        """Bytes granted since creation (all callers together)."""
        return self._granted_bytes

    @property
    def waiting(self) -> int:
        """Calls of :meth:`acquire` in progress and not yet granted (the head one included).

        The head waiter holds the bucket's lock until its grant; the others queue on it in
        arrival order. Lets a test know that a caller really waits, without sleeping.
        """
        stats = self._lock.statistics()
        return stats.tasks_waiting + (1 if stats.locked else 0)

    def set_rate(self, rate_bps: float | None) -> None:
        """Change the rate while running and wake waiters so they re-plan at the new rate.

        Outstanding debt is kept in bytes: a link slowed down mid-chunk pays the rest of
        that chunk at the new rate.

        Raises:
            ConfigError: the rate is not positive and finite (nor ``None``).
        """
        new_rate = _check_rate(rate_bps)
        now = self._clock.monotonic()
        old_rate = self._rate_bps
        if old_rate is not None and new_rate is not None and self._tat > now:
            owed_bytes = (self._tat - now) * old_rate / 8
            self._tat = now + owed_bytes * 8 / new_rate
        else:
            self._tat = now
        self._rate_bps = new_rate
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def acquire(self, nbytes: int) -> None:
        """Wait until ``nbytes`` may be sent, then take them.

        Waiters are served in arrival order. Cancellation-safe: a waiter cancelled before
        its grant takes no tokens and the next waiter moves up.

        Raises:
            ConfigError: ``nbytes`` is not a non-negative integer.
        """
        _check_nbytes(nbytes)
        async with self._lock:
            while True:
                rate = self._rate_bps
                now = self._clock.monotonic()
                if rate is None:
                    self._granted_bytes += nbytes
                    return
                burst_s = (self.burst_bytes or 1) * 8 / rate
                delay = self._tat - burst_s - now
                if delay <= _SLACK_S:
                    self._tat = max(self._tat, now) + nbytes * 8 / rate
                    self._granted_bytes += nbytes
                    return
                await self._refill_or_change(delay)

    async def _refill_or_change(self, delay: float) -> None:
        """Wait ``delay`` seconds of the clock, or less if the rate changes meanwhile."""
        changed = self._changed
        async with anyio.create_task_group() as tg:

            async def refilled() -> None:
                await self._clock.sleep(delay)
                tg.cancel_scope.cancel()

            tg.start_soon(refilled)
            await changed.wait()
            tg.cancel_scope.cancel()

    def try_acquire(self, nbytes: int) -> bool:
        """Take ``nbytes`` now if no one is waiting and the bucket allows it; never blocks.

        Raises:
            ConfigError: ``nbytes`` is not a non-negative integer.
        """
        _check_nbytes(nbytes)
        if self._lock.locked():
            return False
        rate = self._rate_bps
        if rate is None:
            self._granted_bytes += nbytes
            return True
        now = self._clock.monotonic()
        if self._tat - (self.burst_bytes or 1) * 8 / rate - now > _SLACK_S:
            return False
        self._tat = max(self._tat, now) + nbytes * 8 / rate
        self._granted_bytes += nbytes
        return True


class LinkLimiters:
    """One :class:`TokenBucket` per link (target edge name), created on first use.

    Args:
        default_rate_bps: the rate given to a link that was never configured
            (``None``: unlimited).
        factory: builds a bucket for a rate; defaults to a :class:`TokenBucket` on
            ``clock``.
        max_links: how many links the table holds at most (default :data:`MAX_LINKS`).
        clock: the clock of the default factory's buckets.

    Link names are edge names (``^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$``); anything else, and
    a new link once the table is full, is refused with ``ConfigError`` and changes nothing.
    """

    def __init__(
        self,
        default_rate_bps: float | None = None,
        *,
        factory: Callable[[float | None], TokenBucket] | None = None,
        max_links: int = MAX_LINKS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if isinstance(max_links, bool) or not isinstance(max_links, int) or max_links < 1:
            raise ConfigError(f"max_links: expected a positive integer, got {short(max_links)}")
        self._default = _check_rate(default_rate_bps, "default_rate_bps")
        self._factory = factory or (lambda rate: TokenBucket(rate, clock=clock))
        self._max_links = max_links
        self._buckets: dict[str, TokenBucket] = {}

    def get(self, link: str) -> TokenBucket:
        """Return the bucket of ``link``, creating it at the default rate.

        Raises:
            ConfigError: ``link`` is not an edge name, or it is new and the table is full.
        """
        bucket = self._buckets.get(check_link(link))
        if bucket is None:
            if len(self._buckets) >= self._max_links:
                raise ConfigError(
                    f"link: cannot add {link!r}: the link table is full ({self._max_links} links)"
                )
            bucket = self._buckets[link] = self._factory(self._default)
        return bucket

    def set_rate(self, link: str, rate_bps: float | None) -> TokenBucket:
        """Set ``link``'s rate (bits per second, ``None`` unlimited) and return its bucket.

        Raises:
            ConfigError: a bad link name or rate, or a full table; nothing is changed.
        """
        rate = _check_rate(rate_bps)  # before get(): a bad rate creates no link
        bucket = self.get(link)
        bucket.set_rate(rate)
        return bucket

    def links(self) -> dict[str, float | None]:
        """Return every known link with its current rate."""
        return {name: bucket.rate_bps for name, bucket in self._buckets.items()}

    def compression_stats(self) -> dict[str, CompressionStats]:
        """Return every known link's compression counters (zstd tried, skipped)."""
        return {name: bucket.compression.stats() for name, bucket in self._buckets.items()}
