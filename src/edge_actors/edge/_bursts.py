"""One log line per burst of a repeated failure (edge layer; imports only ``_log``).

A condition that fails every request until an operator acts (a full disk) must be
visible in the log without one line, let alone one traceback, per request: the first
occurrence is logged, then at most one line per :attr:`BurstLog.window_s` that carries
how many occurrences it stands for.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from structlog.typing import FilteringBoundLogger

__all__ = ["BurstLog"]


class BurstLog:
    """Rate-limits one warning event to a line per window, counting what it skipped.

    Args:
        log: The bound logger to write to.
        event: The event name of every line.
        window_s: At most one line per this many seconds.
        monotonic: The clock (injectable for tests).
    """

    def __init__(
        self,
        log: FilteringBoundLogger,
        event: str,
        window_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._event = event
        self.window_s = window_s
        self._monotonic = monotonic
        self._last: float | None = None
        self._skipped = 0

    def note(self, **fields: object) -> bool:
        """Count one occurrence; log it unless a line was written within the window.

        Returns:
            Whether a line was written.
        """
        now = self._monotonic()
        if self._last is not None and now - self._last < self.window_s:
            self._skipped += 1
            return False
        self._log.warning(self._event, occurrences=self._skipped + 1, **fields)
        self._last, self._skipped = now, 0
        return True
