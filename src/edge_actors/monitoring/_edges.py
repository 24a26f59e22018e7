"""What the service knows about each probed edge, and the health reports built from it.

Monitoring layer, synchronous state on the service's event loop. :class:`EdgeBook` keeps
each edge's latest probe, latest successful probe and request rate; it turns every probe
into the ``latency``, ``error_rate``, ``throughput`` and ``capacity_usage`` points (through
the recorder) and builds an :class:`EdgeHealth` from the latest probe and the health
window of those series with the rules of :func:`classify`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from edge_actors._log import get_logger

from ._health import classify
from ._models import EdgeHealth
from ._stats import percentile

if TYPE_CHECKING:
    from ._models import MonitoringConfig, ProbeTarget
    from ._probe import ProbeResult
    from ._recorder import MetricRecorder

__all__ = ["EdgeBook"]

_log = get_logger("monitoring")


class _EdgeState:
    """What the book knows about one probed edge."""

    def __init__(self, target: ProbeTarget) -> None:
        self.target = target
        self.last: ProbeResult | None = None
        self.last_ok: ProbeResult | None = None
        self.throughput: float | None = None


class EdgeBook:
    """Probe results per edge, the points they give, and each edge's health.

    Args:
        recorder: where the points of each probe are recorded (and whose series the
            health window reads).
        config: the health rules' limits.
    """

    def __init__(self, recorder: MetricRecorder, config: MonitoringConfig) -> None:
        self._recorder = recorder
        self._config = config
        self._edges: dict[str, _EdgeState] = {}

    def probed(self) -> set[str]:
        """Every edge probed at least once."""
        return set(self._edges)

    def record_probe(self, result: ProbeResult) -> None:
        """Keep ``result`` as the edge's latest probe and record the points it gives.

        ``latency`` when there was an answer; ``error_rate`` 1.0 for a failed probe, else
        the daemon's own error ratio since the previous successful probe (it counts the
        probe request too); ``throughput`` (requests/s between two successful probes);
        ``capacity_usage`` when the daemon reports one. A daemon restart (its counters or
        uptime going backwards) restarts the counting from its new totals.
        """
        record = self._recorder.record
        name = result.target.name
        state = self._edges.get(name)
        if state is None:
            state = self._edges[name] = _EdgeState(result.target)
        state.target = result.target
        previous_outcome = state.last.outcome if state.last is not None else None
        state.last = result
        if result.outcome != previous_outcome:
            _log.info("probe_outcome", edge=name, outcome=result.outcome, error=result.error)
        ts = result.timestamp
        if result.latency_ms is not None:
            record(name, "latency", result.latency_ms, ts)
        report = result.report
        if result.outcome != "ok" or report is None:
            record(name, "error_rate", 1.0, ts)
            return
        requests = errors = 0
        prev = state.last_ok.report if state.last_ok is not None else None
        if state.last_ok is not None and prev is not None:
            requests = report.load.requests_total - prev.load.requests_total
            errors = report.load.errors_total - prev.load.errors_total
            if requests < 0 or errors < 0 or report.uptime_s < prev.uptime_s:
                # The daemon restarted: its counters began again from zero.
                requests, errors = report.load.requests_total, report.load.errors_total
            elapsed = result.monotonic - state.last_ok.monotonic
            if elapsed > 0:
                state.throughput = requests / elapsed
                record(name, "throughput", state.throughput, ts)
        state.last_ok = result
        error_rate = min(1.0, errors / requests) if requests > 0 else 0.0
        record(name, "error_rate", error_rate, ts)
        usage = report.capacity.usage
        if usage is not None:
            record(name, "capacity_usage", usage, ts)

    def health(self, name: str, *, monitored: bool, start: float, now: float) -> EdgeHealth:
        """``name``'s health from its latest probe and its series in ``[start, now]``."""
        state = self._edges.get(name)
        if state is None:
            return EdgeHealth(
                edge=name, status="unknown", reasons=["never probed"], monitored=monitored
            )
        series = self._recorder.series
        latencies = sorted(p.value for p in series.query(name, "latency", start, now))
        rates = [p.value for p in series.query(name, "error_rate", start, now)]
        p95 = percentile(latencies, 95.0) if latencies else None
        error_rate = math.fsum(rates) / len(rates) if rates else None
        last, ok = state.last, state.last_ok
        report = ok.report if ok is not None else None
        usage = report.capacity.usage if report is not None else None
        status, reasons = classify(
            last,
            latency_p95_ms=p95,
            error_rate=error_rate,
            capacity_usage=usage,
            config=self._config,
        )
        return EdgeHealth(
            edge=name,
            status=status,
            reasons=reasons,
            monitored=monitored,
            url=state.target.url,
            last_probe_at=last.timestamp if last is not None else None,
            last_success_at=ok.timestamp if ok is not None else None,
            http_status=last.http_status if last is not None else None,
            error=last.error if last is not None else None,
            latency_ms=last.latency_ms if last is not None else None,
            latency_p95_ms=p95,
            error_rate=error_rate,
            throughput=state.throughput,
            capacity_usage=usage,
            uptime_s=report.uptime_s if report is not None else None,
            workloads=report.workloads if report is not None else None,
            load=report.load if report is not None else None,
            capacity=report.capacity if report is not None else None,
        )
