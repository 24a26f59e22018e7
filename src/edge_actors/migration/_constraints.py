"""Parsing of a plan's constraints and maintenance time windows (layer: migration).

The guide writes constraints as a loose dict (``{"max_downtime": "30s", "time_window":
"02:00-06:00"}``); :func:`parse_constraints` turns it into a frozen :class:`Constraints`
or raises :class:`~edge_actors.errors.ConfigError` naming the key and the value, so a
malformed plan is refused before anything is journaled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from edge_actors.errors import ConfigError
from edge_actors.schema import Flag, convert
from edge_actors.units import parse_bandwidth_bps, parse_duration, parse_size

from ._slots import DEFAULT_PARALLEL_TRANSFERS, check_transfers

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "DEFAULT_CUTOVER_ATTEMPTS",
    "DEFAULT_MAX_DOWNTIME_S",
    "Constraints",
    "TimeWindow",
    "parse_constraints",
]

DEFAULT_MAX_DOWNTIME_S = 0.5
"""Write-hold budget of a cutover when the plan gives no ``max_downtime``."""
DEFAULT_CUTOVER_ATTEMPTS = 5
"""Cutover attempts per workload in one run when the plan gives no ``cutover_attempts``."""
_MAX_CUTOVER_ATTEMPTS = 100

_WINDOW = re.compile(
    r"^\s*(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})"
    r"(?:\s+(?P<zone>[A-Za-z_+\-/0-9]+))?\s*$"
)


class TimeWindow(msgspec.Struct, frozen=True):
    """A daily window ``HH:MM-HH:MM`` in a time zone; ``end <= start`` crosses midnight.

    Attributes:
        start_min: minutes after midnight when the window opens.
        end_min: minutes after midnight when it closes.
        zone: IANA zone name the times are in (``"UTC"`` by default).
    """

    start_min: int
    end_min: int
    zone: str = "UTC"

    @classmethod
    def parse(
        cls, text: str, *, default_zone: str = "UTC", field: str = "time_window"
    ) -> TimeWindow:
        """Parse ``"02:00-06:00"`` or ``"22:00-04:00 Europe/Paris"``.

        Raises:
            ConfigError: malformed text, hours/minutes out of range, unknown zone, or an
                empty window (start equal to end).
        """
        if not isinstance(text, str):
            raise ConfigError(f"{field}: expected 'HH:MM-HH:MM', got {text!r}")
        match = _WINDOW.match(text)
        if match is None:
            raise ConfigError(f"{field}: expected 'HH:MM-HH:MM', got {text!r}")
        h1, m1, h2, m2 = (int(match[k]) for k in ("h1", "m1", "h2", "m2"))
        if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and 0 <= m1 <= 59 and 0 <= m2 <= 59):
            raise ConfigError(f"{field}: hours 0..23 and minutes 0..59 expected, got {text!r}")
        if h2 == 24 and m2 != 0:
            raise ConfigError(f"{field}: 24:MM is only valid as 24:00, got {text!r}")
        zone = match["zone"] or default_zone
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{field}: unknown time zone {zone!r} in {text!r}") from None
        start, end = h1 * 60 + m1, (h2 * 60 + m2) % 1440
        if start == end:
            raise ConfigError(f"{field}: window {text!r} is empty (start equals end)")
        return cls(start, end, zone)

    def __str__(self) -> str:
        s, e = self.start_min, self.end_min
        return f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"

    def _minute_of_day(self, now: dt.datetime) -> float:
        local = now.astimezone(ZoneInfo(self.zone))
        return local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7

    def contains(self, now: dt.datetime) -> bool:
        """Whether the aware datetime ``now`` falls inside the window."""
        minute = self._minute_of_day(now)
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min

    def opens_in(self, now: dt.datetime) -> float:
        """Seconds until the window next opens (0 when ``now`` is inside it)."""
        if self.contains(now):
            return 0.0
        minute = self._minute_of_day(now)
        return ((self.start_min - minute) % 1440) * 60.0

    def closes_in(self, now: dt.datetime) -> float:
        """Seconds until the window closes (0 when ``now`` is outside it)."""
        if not self.contains(now):
            return 0.0
        minute = self._minute_of_day(now)
        return ((self.end_min - minute) % 1440) * 60.0


class Constraints(msgspec.Struct, frozen=True, kw_only=True):
    """A plan's parsed constraints (units resolved).

    Attributes:
        time_window: when stages may run (``None``: any time).
        bandwidth_bps: link limit in bits/s from the ``bandwidth`` constraint.
        max_downtime_s: write-hold budget of a cutover; convergence aims below it.
        sync_interval_s: pacing of delta rounds (incremental: the interval between rounds;
            live: the minimum spacing between round starts).
        delta_threshold_bytes: incremental: start a round early once the un-synced delta
            exceeds this.
        skip_validation: skip digest comparison and endpoint probes.
        force_migration: skip the target capacity check.
        validation_required: staged: validate after every stage.
        max_rounds: delta rounds after which a non-converging migration fails.
        parallel_transfers: transfers of this plan running at once (its workloads'
            copies and cutovers' final deltas); the service's ``link_transfers`` caps
            every plan on the same link together.
        cutover_attempts: cutover attempts one run makes per workload: an undone cutover
            (its hold could not finish within ``max_downtime``) is retried later in the
            same run, with a new epoch and backoff; when this many attempts of one
            workload were undone the run fails (a crash: restarted from its checkpoint,
            within the restart policy). ``1``: no retry inside the run.
    """

    time_window: TimeWindow | None = None
    bandwidth_bps: float | None = None
    max_downtime_s: float = DEFAULT_MAX_DOWNTIME_S
    sync_interval_s: float | None = None
    delta_threshold_bytes: int | None = None
    skip_validation: bool = False
    force_migration: bool = False
    validation_required: bool = False
    max_rounds: int = 30
    parallel_transfers: int = DEFAULT_PARALLEL_TRANSFERS
    cutover_attempts: int = DEFAULT_CUTOVER_ATTEMPTS


_BOOL_KEYS = ("skip_validation", "force_migration", "validation_required")
KNOWN_CONSTRAINTS = (
    "time_window",
    "bandwidth",
    "max_downtime",
    "sync_interval",
    "delta_threshold",
    *_BOOL_KEYS,
    "max_rounds",
    "parallel_transfers",
    "cutover_attempts",
)


def parse_constraints(
    raw: Mapping[str, object] | None, *, default_zone: str = "UTC"
) -> Constraints:
    """Validate and parse the guide's constraints dict.

    Raises:
        ConfigError: an unknown key, or a value that does not parse; the message names the
            key (``constraints.max_downtime``) and the value.
    """
    if raw is None:
        return Constraints()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"constraints: expected a mapping, got {raw!r}")
    values: dict[str, object] = {}
    for key, value in raw.items():
        field = f"constraints.{key}"
        if key not in KNOWN_CONSTRAINTS:
            known = ", ".join(KNOWN_CONSTRAINTS)
            raise ConfigError(f"{field}: unknown constraint {key!r} (known: {known})")
        if value is None:
            continue
        if key == "time_window":
            if not isinstance(value, str):
                raise ConfigError(f"{field}: expected 'HH:MM-HH:MM', got {value!r}")
            values["time_window"] = TimeWindow.parse(value, default_zone=default_zone, field=field)
        elif key == "bandwidth":
            values["bandwidth_bps"] = parse_bandwidth_bps(_num_or_str(field, value), field=field)
        elif key == "max_downtime":
            values["max_downtime_s"] = parse_duration(_num_or_str(field, value), field=field)
        elif key == "sync_interval":
            values["sync_interval_s"] = parse_duration(
                _num_or_str(field, value), field=field, allow_zero=True
            )
        elif key == "delta_threshold":
            size = value if isinstance(value, str) else _int(field, value)
            values["delta_threshold_bytes"] = parse_size(size, field=field)
        elif key in _BOOL_KEYS:
            values[key] = convert(value, Flag, field=field)
        elif key == "parallel_transfers":
            values[key] = check_transfers(value, field)
        elif key == "cutover_attempts":
            attempts = _int(field, value)
            if not 1 <= attempts <= _MAX_CUTOVER_ATTEMPTS:
                raise ConfigError(
                    f"{field}: expected 1..{_MAX_CUTOVER_ATTEMPTS} attempts, got {value!r}"
                )
            values[key] = attempts
        else:  # max_rounds
            rounds = _int(field, value)
            if not 1 <= rounds <= 10_000:
                raise ConfigError(f"{field}: expected 1..10000 rounds, got {value!r}")
            values["max_rounds"] = rounds
    return Constraints(**values)  # type: ignore[arg-type]


def _num_or_str(field: str, value: object) -> str | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{field}: expected a number or a string with a unit, got {value!r}")
    return value


def _int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field}: expected an integer, got {value!r}")
    return value
