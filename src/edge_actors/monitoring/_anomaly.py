"""Streaming anomaly detection: EWMA mean and variance with a z-score threshold.

Monitoring layer, pure computation. Method, per series, for each arriving point ``x``:

1. ``std = max(sqrt(var), min_std, rel_min_std * |mean|)``; ``z = (x - mean) / std``,
   both from the state *before* ``x``.
2. Once the series has seen ``warmup`` points, ``|z| > z_threshold`` flags ``x``.
3. Update with ``d = x - mean`` (for a flagged point, ``d`` is clipped to
   ``±z_threshold * std`` so one spike neither hides the next nor widens the band much,
   while a lasting level shift is still absorbed within about ``1/alpha`` points):
   ``mean += alpha * d``; ``var = (1 - alpha) * (var + alpha * d * d)``.

The weight is ``max(alpha, 1 / n)`` for the ``n``-th point, so early on the state is the
plain running mean and population variance (unbiased where a bare EWMA started at zero
variance would be too narrow), and the estimate is sound when flagging starts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._models import Anomaly

if TYPE_CHECKING:
    from ._models import AnomalyConfig

__all__ = ["EwmaDetector", "Verdict", "anomaly_of"]


class Verdict:
    """What the detector concluded about one point."""

    __slots__ = ("anomalous", "expected", "stddev", "z_score")

    def __init__(self, *, anomalous: bool, expected: float, stddev: float, z_score: float):
        self.anomalous = anomalous
        self.expected = expected
        self.stddev = stddev
        self.z_score = z_score


class EwmaDetector:
    """EWMA z-score detector of one series (see the module docstring for the method)."""

    __slots__ = ("_config", "_mean", "_seen", "_var")

    def __init__(self, config: AnomalyConfig) -> None:
        self._config = config
        self._seen = 0
        self._mean = 0.0
        self._var = 0.0

    @property
    def seen(self) -> int:
        """Points this detector has consumed."""
        return self._seen

    def update(self, x: float) -> Verdict:
        """Judge ``x`` against the state so far, then fold it in."""
        cfg = self._config
        if self._seen == 0:
            self._seen = 1
            self._mean = x
            return Verdict(anomalous=False, expected=x, stddev=0.0, z_score=0.0)
        mean = self._mean
        std = max(math.sqrt(self._var), cfg.min_std, cfg.rel_min_std * abs(mean))
        z = (x - mean) / std
        anomalous = self._seen >= cfg.warmup and abs(z) > cfg.z_threshold
        d = x - mean
        if anomalous:
            limit = cfg.z_threshold * std
            d = max(-limit, min(limit, d))
        alpha = max(cfg.alpha, 1.0 / (self._seen + 1))
        self._mean = mean + alpha * d
        self._var = (1.0 - alpha) * (self._var + alpha * d * d)
        self._seen += 1
        return Verdict(anomalous=anomalous, expected=mean, stddev=std, z_score=z)


def anomaly_of(edge: str, metric: str, ts: float, value: float, verdict: Verdict) -> Anomaly:
    """The :class:`Anomaly` record of a point ``verdict`` flagged."""
    return Anomaly(
        edge=edge,
        metric=metric,
        timestamp=ts,
        value=value,
        expected=verdict.expected,
        stddev=verdict.stddev,
        z_score=verdict.z_score,
    )
