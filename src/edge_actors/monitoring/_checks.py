"""Argument checks shared by the monitoring owners: edge names, numbers, metric names.

Monitoring layer, pure functions. Each raises :class:`~edge_actors.errors.ConfigError`
naming the field and the value it got, so the same mistake gets the same error from every
public method of :class:`~edge_actors.monitoring.MonitoringService`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError

from ._models import ProbeTarget

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["check_edge", "check_metric_name", "edge_names", "finite", "probe_targets"]

_METRIC_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")


def edge_names(edge_nodes: Sequence[str] | None, field: str = "edge_nodes") -> list[str] | None:
    """Return ``edge_nodes`` as a list (None stays None: "every edge")."""
    if edge_nodes is None:
        return None
    if isinstance(edge_nodes, str):
        raise ConfigError(f"{field}: expected a list of edge names, got the string {edge_nodes!r}")
    names = list(edge_nodes)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{field}: expected non-empty edge names, got {name!r}")
    return names


def check_edge(edge: str) -> None:
    """Refuse anything but a non-empty edge name."""
    if not isinstance(edge, str) or not edge:
        raise ConfigError(f"edge: expected a non-empty string, got {edge!r}")


def finite(field: str, value: float) -> float:
    """Return ``value`` as a float; refuse booleans, non-numbers, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{field}: expected a finite number, got {value!r}")
    return float(value)


def check_metric_name(metric: str) -> None:
    """Refuse a series name outside ``[A-Za-z_][A-Za-z0-9_.:-]*`` (at most 128 characters)."""
    if not isinstance(metric, str) or _METRIC_RE.fullmatch(metric) is None:
        raise ConfigError(
            f"metric: {metric!r} is not a valid name (letters, digits, _ . : -; "
            "starting with a letter or _)"
        )


def probe_targets(targets: Sequence[ProbeTarget], *, unique: bool) -> list[ProbeTarget]:
    """Return ``targets`` as a list of :class:`ProbeTarget` (with unique names if asked)."""
    found = list(targets)
    if unique and not found:
        raise ConfigError("targets: expected at least one ProbeTarget")
    for target in found:
        if not isinstance(target, ProbeTarget):
            raise ConfigError(f"targets: expected ProbeTarget items, got {target!r}")
    names = [t.name for t in found]
    for name in names:
        if unique and names.count(name) > 1:
            raise ConfigError(f"targets: edge {name!r} is listed more than once")
    return found
