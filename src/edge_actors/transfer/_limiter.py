"""Token-bucket rate limiting of transfer links (layer: transfer).

One :class:`TokenBucket` per link (target edge) paces every chunk a sender puts on the
wire, so two concurrent streams to the same edge share that link's rate.
:class:`LinkLimiters` keeps the buckets by link name. Imports only the leaves.

The bucket is a GCRA (virtual scheduling) limiter: a theoretical arrival time ``tat``
advances by ``nbytes / rate`` per grant and a request is granted once
``now >= tat - burst / rate``. That gives exact long-run rates (a late wake-up of less
than the burst time loses nothing) and bounds any window of length ``T`` to
``rate * T + burst + one request``: a request larger than the burst goes into debt
instead of being refused.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio

from edge_actors.errors import ConfigError
from edge_actors.units import parse_bandwidth_bps

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_BURST_S", "LinkLimiters", "TokenBucket"]

DEFAULT_BURST_S = 0.01
"""Default burst, as seconds of the rate: 10 ms keeps any 100 ms window within 1.1x."""


def _check_rate(rate_bps: float | None, field: str = "rate_bps") -> float | None:
    if rate_bps is None:
        return None
    if (
        isinstance(rate_bps, bool)
        or not isinstance(rate_bps, int | float)
        or not rate_bps > 0
        or rate_bps == float("inf")
    ):
        raise ConfigError(f"{field}: expected a positive finite bits/s or None, got {rate_bps!r}")
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

    Raises:
        ConfigError: the rate is not positive and finite, or the burst is not positive.
    """

    def __init__(self, rate_bps: float | None, *, burst_bytes: int | None = None) -> None:
        if burst_bytes is not None and (
            isinstance(burst_bytes, bool) or not isinstance(burst_bytes, int) or burst_bytes <= 0
        ):
            raise ConfigError(f"burst_bytes: expected a positive integer, got {burst_bytes!r}")
        self._rate_bps = _check_rate(rate_bps)
        self._burst_bytes = burst_bytes
        self._tat = time.monotonic()
        self._lock = anyio.Lock()
        self._changed = anyio.Event()
        self._granted_bytes = 0

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

    def set_rate(self, rate_bps: float | None) -> None:
        """Change the rate while running and wake waiters so they re-plan at the new rate.

        Outstanding debt is kept in bytes: a link slowed down mid-chunk pays the rest of
        that chunk at the new rate.

        Raises:
            ConfigError: the rate is not positive and finite (nor ``None``).
        """
        new_rate = _check_rate(rate_bps)
        now = time.monotonic()
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
            ConfigError: ``nbytes`` is negative.
        """
        if nbytes < 0:
            raise ConfigError(f"nbytes: expected a non-negative byte count, got {nbytes!r}")
        async with self._lock:
            while True:
                rate = self._rate_bps
                now = time.monotonic()
                if rate is None:
                    self._granted_bytes += nbytes
                    return
                burst_s = (self.burst_bytes or 1) * 8 / rate
                delay = self._tat - burst_s - now
                if delay <= 0:
                    self._tat = max(self._tat, now) + nbytes * 8 / rate
                    self._granted_bytes += nbytes
                    return
                changed = self._changed
                with anyio.move_on_after(delay):
                    await changed.wait()

    def try_acquire(self, nbytes: int) -> bool:
        """Take ``nbytes`` now if no one is waiting and the bucket allows it; never blocks."""
        if self._lock.locked():
            return False
        rate = self._rate_bps
        if rate is None:
            self._granted_bytes += nbytes
            return True
        now = time.monotonic()
        if self._tat - (self.burst_bytes or 1) * 8 / rate - now > 0:
            return False
        self._tat = max(self._tat, now) + nbytes * 8 / rate
        self._granted_bytes += nbytes
        return True


class LinkLimiters:
    """One :class:`TokenBucket` per link (target edge name), created on first use.

    Args:
        default_rate_bps: the rate given to a link that was never configured
            (``None``: unlimited).
        factory: builds a bucket for a rate; defaults to :class:`TokenBucket`.
    """

    def __init__(
        self,
        default_rate_bps: float | None = None,
        *,
        factory: Callable[[float | None], TokenBucket] = TokenBucket,
    ) -> None:
        self._default = _check_rate(default_rate_bps, "default_rate_bps")
        self._factory = factory
        self._buckets: dict[str, TokenBucket] = {}

    def get(self, link: str) -> TokenBucket:
        """Return the bucket of ``link``, creating it at the default rate."""
        if not link:
            raise ConfigError("link: expected a non-empty target edge name")
        bucket = self._buckets.get(link)
        if bucket is None:
            bucket = self._buckets[link] = self._factory(self._default)
        return bucket

    def set_rate(self, link: str, rate_bps: float | None) -> TokenBucket:
        """Set ``link``'s rate (bits per second, ``None`` unlimited) and return its bucket."""
        bucket = self.get(link)
        bucket.set_rate(rate_bps)
        return bucket

    def links(self) -> dict[str, float | None]:
        """Return every known link with its current rate."""
        return {name: bucket.rate_bps for name, bucket in self._buckets.items()}
