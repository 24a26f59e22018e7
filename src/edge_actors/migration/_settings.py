"""The service settings ``configure`` changes, parsed strictly (layer: migration)."""

from __future__ import annotations

import math
from typing import Any

from edge_actors.schema import short
from edge_actors.units import parse_duration

from ._errors import InvalidRequest

__all__ = ["SETTINGS", "parse_settings"]

SETTINGS = (
    "checkpoint_interval, bandwidth_limit_mbps, sync_batch_size, enable_compression, max_concurrent"
)
"""The keys ``configure`` accepts, in words."""


def _positive(field: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < math.inf  # NaN fails both comparisons
    ):
        raise InvalidRequest(f"{field}: expected a positive finite number, got {short(value)}")
    return float(value)


def parse_settings(values: object) -> dict[str, Any]:
    """Map ``configure``'s keys to ``ServiceDefaults`` fields with checked values.

    ``None`` leaves a setting as it is, except ``bandwidth_limit_mbps`` (``None``:
    unlimited).

    Raises:
        InvalidRequest: not a mapping, an unknown key or a malformed value.
        ConfigError: a malformed duration (``checkpoint_interval``).
    """
    if not isinstance(values, dict):
        raise InvalidRequest(f"configure: expected a mapping, got {short(values)}")
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if value is None and key != "bandwidth_limit_mbps":
            continue
        if key == "checkpoint_interval":
            parsed["checkpoint_interval_s"] = parse_duration(value, field=key)
        elif key == "bandwidth_limit_mbps":
            parsed[key] = None if value is None else _positive(key, value)
        elif key == "sync_batch_size" or key == "max_concurrent":
            hi = 1_000_000 if key == "sync_batch_size" else 1000
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
                raise InvalidRequest(f"{key}: expected an integer 1..{hi}, got {value!r}")
            parsed[key] = value
        elif key == "enable_compression":
            if not isinstance(value, bool):
                raise InvalidRequest(f"{key}: expected true or false, got {value!r}")
            parsed[key] = value
        else:
            raise InvalidRequest(f"{key}: unknown setting (known: {SETTINGS})")
    return parsed
