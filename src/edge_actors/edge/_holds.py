"""Write holds of one daemon: a :class:`WriteGate` per workload and its lease (edge layer).

:class:`Holds` owns the gates. A hold starts a lease: a task (in the daemon's task group)
that sleeps on the injected :class:`~edge_actors.clock.Clock` and releases the hold when
the lease runs out, unless the hold was released or renewed first. Releasing records the
held-write count and hold time in the metrics and the log. Routing is not its business:
the router flips the route, then asks for the release.

Holds are bounded: a renewal's lease is cut to what is left of ``max_total_s`` from the
hold's start (none left: :class:`HoldLimitReached`), and the writes queued on all gates
together take at most ``max_held_bytes`` (:class:`HeldBytes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ._errors import EdgeError
from ._refusals import HoldLimitReached
from ._routing import HeldBytes, WriteGate

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from edge_actors.clock import Clock
    from edge_actors.store import WorkloadStore

    from ._metrics import DaemonMetrics

__all__ = ["Holds"]


class Holds:
    """The write gates of one edge, their holds and their leases.

    Args:
        edge: The edge name (metric labels, logs).
        metrics: The daemon's metrics (held writes, hold durations, expired leases).
        log: The daemon's bound logger.
        clock: Times holds (``held_ms``) and leases.
        max_total_s: Longest a hold lasts from its start, renewals included.
        max_held_bytes: Most bytes of writes queued on all gates together.
    """

    def __init__(
        self,
        edge: str,
        metrics: DaemonMetrics,
        log: Any,
        clock: Clock,
        *,
        max_total_s: float = float("inf"),
        max_held_bytes: int | None = None,
    ) -> None:
        self._edge = edge
        self._max_total_s = max_total_s
        self._held_bytes = None if max_held_bytes is None else HeldBytes(max_held_bytes)
        self._metrics = metrics
        self._log = log
        self._clock = clock
        self._gates: dict[str, WriteGate] = {}
        self._tasks: TaskGroup | None = None

    def start(self, tasks: TaskGroup) -> None:
        """Let leases run as tasks of ``tasks`` (the daemon's, cancelled at its shutdown)."""
        self._tasks = tasks

    def gate(self, name: str) -> WriteGate:
        """Return the write gate of workload ``name`` (created on first use)."""
        gate = self._gates.get(name)
        if gate is None:
            gate = self._gates[name] = WriteGate(name, self._clock, self._held_bytes)
        return gate

    def forget(self, name: str) -> None:
        """Drop the gate of ``name`` if nothing uses it (not held, no lease, no write in
        flight or queued): a dropped workload's gate would otherwise stay for good, one
        per workload that ever passed through the edge. A later write makes a new one."""
        gate = self._gates.get(name)
        if gate is not None and not (gate.held or gate.lease or gate.inflight or gate.queued):
            del self._gates[name]

    @property
    def gate_count(self) -> int:
        """How many workloads have a gate now."""
        return len(self._gates)

    def is_held(self, name: str) -> bool:
        """Whether ``name`` is held right now (creates no gate)."""
        gate = self._gates.get(name)
        return gate is not None and gate.held

    def queued_writes(self) -> int:
        """Writes waiting on holds right now, over all workloads."""
        return sum(gate.queued for gate in self._gates.values())

    async def hold(self, store: WorkloadStore, lease_s: float) -> tuple[int, float]:
        """Hold writes of ``store``'s workload; return ``(lsn, lease_s)`` once in-flight
        writes are done.

        The lease releases the hold after ``lease_s`` seconds of the clock unless it is
        released or renewed first (a renewal replaces the lease). A renewal's lease is cut
        to what is left of ``max_total_s`` since the hold began; the answer says the lease
        granted.

        Raises:
            HoldLimitReached: A renewal with nothing left of ``max_total_s`` (the hold
                and its lease stay as they were).

        Cancellation: the hold stays in place until released or its lease expires.
        """
        if self._tasks is None:
            raise EdgeError(f"edge {self._edge!r} is not running; no write holds")
        tasks, name = self._tasks, store.name
        gate = self.gate(name)
        if gate.held_since is not None:
            left = gate.held_since + self._max_total_s - self._clock.monotonic()
            if left <= 0:
                raise HoldLimitReached(
                    f"workload {name!r} has been held for the longest a hold may last "
                    f"({self._max_total_s:g} s, hold_max_total_s); not renewed"
                )
            lease_s = min(lease_s, left)
        hold_id = gate.begin_hold()
        if gate.lease is not None:
            gate.lease.cancel()
        scope = gate.lease = anyio.CancelScope()
        tasks.start_soon(self._run_lease, name, gate, hold_id, lease_s, scope)
        await gate.wait_idle()
        self._log.info("writes_held", workload=name, lsn=store.lsn, lease_s=lease_s)
        return store.lsn, lease_s

    def release(self, name: str, moved_to: str | None, *, reason: str) -> tuple[int, float]:
        """End the hold of ``name`` (if any) and let its queued writes go in order (all
        in one loop turn when they are forwarded to ``moved_to``).

        Returns:
            ``(held_writes, held_ms)``; ``(0, 0.0)`` when not held.
        """
        gate = self.gate(name)
        if gate.lease is not None:
            gate.lease.cancel()
            gate.lease = None
        was_held = gate.held
        count, held_ms = gate.release(all_at_once=moved_to is not None)
        if was_held:
            self._metrics.held_writes.labels(self._edge).inc(count)
            self._metrics.hold_duration.labels(self._edge).observe(held_ms / 1000.0)
            self._metrics.activity.held(name, count, held_ms / 1000.0)
            self._log.info(
                "writes_released",
                workload=name,
                held_writes=count,
                held_ms=round(held_ms, 3),
                moved_to=moved_to,
                reason=reason,
            )
        return count, held_ms

    def close(self) -> None:
        """Cancel every lease and turn away queued and future writes (shutdown).

        A hold taken after this (a request still finishing) gets a lease task too; the
        daemon's task group cancels it when it stops.
        """
        for gate in self._gates.values():
            if gate.lease is not None:
                gate.lease.cancel()
                gate.lease = None
            gate.close()

    async def _run_lease(
        self, name: str, gate: WriteGate, hold_id: int, lease: float, scope: anyio.CancelScope
    ) -> None:
        with scope:
            await self._clock.sleep(lease)
        if scope.cancel_called or gate.hold_id != hold_id or not gate.held:
            return  # released or renewed meanwhile
        # No await below, so no cancellation can arrive: catching Exception keeps a failed
        # release from taking the daemon's task group (and its actor system) down.
        try:
            gate.lease = None
            self._metrics.holds_expired.labels(self._edge).inc()
            self._metrics.activity.lease_expired(name)
            self._log.warning("hold_lease_expired", workload=name, lease_s=lease)
            self.release(name, None, reason="lease_expired")
        except Exception:
            self._log.exception("hold_lease_release_failed", workload=name)
