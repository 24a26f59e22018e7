"""Value types of the actor engine: notices, restart types, strategies, backoff (layer: actors).

These are plain msgspec Structs and Literals so that other layers can store, log and
compare them without importing any of the engine's machinery.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from edge_actors.errors import ConfigError

__all__ = ["Backoff", "RestartType", "SupervisorStrategy", "Terminated"]

RestartType = Literal["permanent", "transient", "temporary"]
"""When a supervisor restarts a child: ``permanent`` always, ``transient`` only after a
crash (not after a normal stop), ``temporary`` never."""

SupervisorStrategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
"""``one_for_one`` restarts only the child that exited; ``one_for_all`` stops every child
(last started first) and starts them all again in start order; ``rest_for_one`` does the
same for the child that exited and the children started after it."""

RESTART_TYPES: frozenset[str] = frozenset(("permanent", "transient", "temporary"))
STRATEGIES: frozenset[str] = frozenset(("one_for_one", "one_for_all", "rest_for_one"))


class Terminated(msgspec.Struct, frozen=True, tag=True):
    """Watch notice delivered to a watcher when the watched actor stops for good.

    Attributes:
        ref_name: the name of the actor that stopped.
        reason: ``"normal"`` (orderly stop), ``"killed"`` (``ActorSystem.kill`` or a stop
            that had to be cancelled) or ``"crashed: <error>"``.
    """

    ref_name: str
    reason: str


class Backoff(msgspec.Struct, frozen=True):
    """Exponential delay between restarts of the same supervisor.

    The n-th restart within the intensity window (n = 0 for the first) waits
    ``min(max_s, initial_s * factor ** n)`` seconds before the new instance starts.

    Attributes:
        initial_s: delay before the first restart, seconds (default 0.1).
        factor: growth per further restart (default 2.0).
        max_s: upper bound of the delay, seconds (default 5.0).
    """

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 5.0

    def __post_init__(self) -> None:
        for field in ("initial_s", "factor", "max_s"):
            value = getattr(self, field)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ConfigError(f"Backoff.{field} must be a finite number, got {value!r}")
        if self.initial_s < 0:
            raise ConfigError(f"Backoff.initial_s must be >= 0, got {self.initial_s!r}")
        if self.factor < 1:
            raise ConfigError(f"Backoff.factor must be >= 1, got {self.factor!r}")
        if self.max_s < self.initial_s:
            raise ConfigError(
                f"Backoff.max_s must be >= initial_s ({self.initial_s!r}), got {self.max_s!r}"
            )

    def delay(self, attempt: int) -> float:
        """Return the delay in seconds before restart number ``attempt`` (0-based)."""
        if attempt <= 0:
            return self.initial_s
        try:
            return min(self.max_s, self.initial_s * self.factor**attempt)
        except OverflowError:
            return self.max_s
