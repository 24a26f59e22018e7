"""The service settings ``configure`` changes, parsed strictly (layer: migration)."""

from __future__ import annotations

import math
from typing import Any

from edge_actors.errors import ConfigError
from edge_actors.schema import BatchSize, Flag, MaxConcurrent, convert, short
from edge_actors.units import parse_duration

from ._errors import InvalidRequest
from ._slots import check_transfers

__all__ = ["SETTINGS", "parse_settings"]

_TYPES: dict[str, object] = {
    "sync_batch_size": BatchSize,
    "max_concurrent": MaxConcurrent,
    "enable_compression": Flag,
}
"""Settings whose rule is a shared schema type (the same rule a plan or node applies)."""

SETTINGS = (
    "checkpoint_interval, bandwidth_limit_mbps, sync_batch_size, enable_compression, "
    "max_concurrent, link_transfers"
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
        elif key == "link_transfers":
            try:
                parsed[key] = check_transfers(value, key)
            except ConfigError as exc:
                raise InvalidRequest(str(exc)) from None
        elif key in _TYPES:
            try:
                parsed[key] = convert(value, _TYPES[key], field=key)
            except ConfigError as exc:
                raise InvalidRequest(str(exc)) from None
        else:
            raise InvalidRequest(f"{key}: unknown setting (known: {SETTINGS})")
    return parsed
