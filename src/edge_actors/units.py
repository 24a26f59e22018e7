"""Parsing of the human-written quantities the guide uses: durations, sizes, bandwidths.

Bottom of the import order: every layer may use it. Each parser accepts the numeric form
(seconds, bytes, megabits per second) or a string with a unit, and raises
:class:`~edge_actors.errors.ConfigError` naming the field and the value when it cannot.
"""

from __future__ import annotations

import math
import re

from edge_actors.errors import ConfigError

__all__ = ["parse_bandwidth_bps", "parse_duration", "parse_size"]

_NUMBER_UNIT = re.compile(r"^\s*(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>[a-zA-Z/]*)\s*$")

_DURATION_UNITS: dict[str, float] = {
    "": 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0, "d": 86400.0, "day": 86400.0,
    "days": 86400.0,
}  # fmt: skip

_SIZE_UNITS: dict[str, int] = {
    "": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    "k": 1000, "m": 1000**2, "g": 1000**3,
}  # fmt: skip

# Bandwidth units, in bits per second.
_BANDWIDTH_UNITS: dict[str, float] = {
    "bps": 1.0, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9,
    "kbit/s": 1e3, "mbit/s": 1e6, "gbit/s": 1e9,
    "b/s": 8.0, "kb/s": 8e3, "mb/s": 8e6, "gb/s": 8e9,
}  # fmt: skip


_SHOWN_CHARS = 40


def _show(value: object) -> str:
    """``repr(value)``, cut to a readable length (a huge value must not flood a message)."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[: _SHOWN_CHARS - 12]}...({len(text)} chars)"


def _as_float(field: str, value: float) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{field}: {_show(value)} is too large") from None


def _split(field: str, value: str) -> tuple[float, str]:
    match = _NUMBER_UNIT.match(value)
    if match is None:
        raise ConfigError(f"{field}: cannot parse {_show(value)} (expected a number with a unit)")
    return float(match["num"]), match["unit"]


def _check_number(field: str, value: float, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{field}: {_show(value)} is not a finite non-negative number")
    if value == 0 and not allow_zero:
        raise ConfigError(f"{field}: must be greater than zero, got {value!r}")
    return float(value)


def parse_duration(
    value: str | float, *, field: str = "duration", allow_zero: bool = False
) -> float:
    """Return a duration in seconds from ``30``, ``"30s"``, ``"5m"``, ``"250ms"``, ``"1h"``.

    Raises:
        ConfigError: the value is not a duration, is negative, or is zero when not allowed.
    """
    if isinstance(value, str):
        number, unit = _split(field, value)
        factor = _DURATION_UNITS.get(unit.lower())
        if factor is None:
            known = ", ".join(sorted(u for u in _DURATION_UNITS if u))
            raise ConfigError(
                f"{field}: unknown duration unit {_show(unit)} in {_show(value)} (use {known})"
            )
        return _check_number(field, number * factor, allow_zero=allow_zero)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _check_number(field, _as_float(field, value), allow_zero=allow_zero)
    raise ConfigError(f"{field}: expected seconds or a string like '30s', got {_show(value)}")


def parse_size(value: str | int, *, field: str = "size", allow_zero: bool = False) -> int:
    """Return a size in bytes from ``1024``, ``"100MB"``, ``"64KiB"``, ``"1.5GB"``.

    Decimal units (KB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) of 1024.

    Raises:
        ConfigError: the value is not a size, is negative, or is zero when not allowed.
    """
    if isinstance(value, str):
        number, unit = _split(field, value)
        factor = _SIZE_UNITS.get(unit.lower())
        if factor is None:
            raise ConfigError(
                f"{field}: unknown size unit {_show(unit)} in {_show(value)} "
                "(use KB, MB, GB, KiB, MiB, GiB)"
            )
        return int(_check_number(field, number * factor, allow_zero=allow_zero))
    if isinstance(value, int) and not isinstance(value, bool):
        return int(_check_number(field, _as_float(field, value), allow_zero=allow_zero))
    raise ConfigError(f"{field}: expected bytes or a string like '100MB', got {_show(value)}")


def parse_bandwidth_bps(value: str | float, *, field: str = "bandwidth") -> float:
    """Return a bandwidth in **bits** per second.

    A bare number is megabits per second (as ``bandwidth_limit_mbps`` is); strings carry a
    unit: ``"50mbps"``, ``"1gbps"``, ``"500kbps"``, ``"10MB/s"`` (bytes per second).

    Raises:
        ConfigError: the value is not a positive bandwidth.
    """
    if isinstance(value, str):
        number, unit = _split(field, value)
        factor = _BANDWIDTH_UNITS.get(unit.lower()) if unit else 1e6
        if factor is None:
            known = ", ".join(sorted(_BANDWIDTH_UNITS))
            raise ConfigError(
                f"{field}: unknown bandwidth unit {_show(unit)} in {_show(value)} (use {known})"
            )
        return _check_number(field, number * factor, allow_zero=False)
    if isinstance(value, int | float) and not isinstance(value, bool):
        mbps = _check_number(field, _as_float(field, value), allow_zero=False)
        return _check_number(field, mbps * 1e6, allow_zero=False)
    raise ConfigError(f"{field}: expected Mbps or a string like '50mbps', got {_show(value)}")
