"""Aggregates of metric series: mean, extremes, percentiles, standard deviation.

Monitoring layer, pure functions (no I/O, no numpy). Percentiles use linear
interpolation between closest ranks (Hyndman & Fan type 7), the definition numpy uses by
default and ``statistics.quantiles(..., method="inclusive")`` computes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._models import MetricStats

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["percentile", "summarize"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0..100) of already sorted, non-empty values.

    With ``h = (n - 1) * q / 100`` the result is
    ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.

    Raises:
        ValueError: ``sorted_values`` is empty or ``q`` is outside [0, 100].
    """
    if not sorted_values:
        raise ValueError("percentile of an empty series")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q!r}")
    h = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def summarize(values: Sequence[float]) -> MetricStats:
    """Return the aggregates of ``values`` (in time order: ``last`` is the final one)."""
    n = len(values)
    if n == 0:
        return MetricStats(count=0)
    ordered = sorted(values)
    mean = math.fsum(values) / n
    variance = math.fsum((v - mean) ** 2 for v in values) / n
    return MetricStats(
        count=n,
        mean=mean,
        min=ordered[0],
        max=ordered[-1],
        p50=percentile(ordered, 50.0),
        p95=percentile(ordered, 95.0),
        p99=percentile(ordered, 99.0),
        stddev=math.sqrt(variance),
        last=values[-1],
    )
