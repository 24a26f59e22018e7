"""Probe loops: one task per monitored edge, with the HTTP session and the task group.

Monitoring layer. :class:`ProbeLoops` owns the service's task group and aiohttp session
(opened and closed with the service's ``async with``), one :class:`ProbeLoop` per
monitored edge, and one-shot concurrent probes. It does not interpret a probe: each
:class:`ProbeResult` goes to the ``on_result`` callback (the service's edge book).
Lives on one event loop; its state changes only between awaits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import anyio
import anyio.abc

from edge_actors._log import get_logger

from ._errors import MonitoringError, ServiceNotRunning
from ._probe import probe

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Sequence

    from edge_actors.clock import Clock

    from ._models import ProbeTarget
    from ._probe import ProbeResult

__all__ = ["PROBE_TASK_PREFIX", "ProbeLoop", "ProbeLoops"]

PROBE_TASK_PREFIX = "edge_actors.monitoring.probe:"
"""Name prefix of every probe-loop task (followed by the edge name)."""

_log = get_logger("monitoring")


class ProbeLoop:
    """A running probe loop's settings and handles (mutated in place to retune it)."""

    def __init__(self, target: ProbeTarget, interval_s: float, timeout_s: float) -> None:
        self.target = target
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.scope: anyio.CancelScope | None = None
        self.retuned = anyio.Event()
        self.done = anyio.Event()


class ProbeLoops:
    """The probe loops of one service, their task group and their HTTP session.

    Args:
        on_result: called with every probe's result, on the loop, before the next probe.
        clock: stamps each probe (wall and monotonic time).
        ssl_context: TLS context of the session (a private CA, a client certificate);
            ``None`` keeps aiohttp's default (the system store).
    """

    def __init__(
        self,
        on_result: Callable[[ProbeResult], None],
        clock: Clock,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._on_result = on_result
        self._clock = clock
        self._ssl = ssl_context
        self._loops: dict[str, ProbeLoop] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._tg is not None

    def require_running(self, operation: str) -> None:
        """Refuse ``operation`` outside the service's ``async with``."""
        if self._tg is None or self._session is None:
            raise ServiceNotRunning(f"{operation} needs 'async with MonitoringService()'")

    async def open(self) -> None:
        """Open the HTTP session and the task group.

        Raises:
            MonitoringError: already open.
        """
        if self._tg is not None:
            raise MonitoringError("MonitoringService is already running")
        connector = None if self._ssl is None else aiohttp.TCPConnector(ssl=self._ssl)
        session = aiohttp.ClientSession(connector=connector)
        tg = anyio.create_task_group()
        try:
            await tg.__aenter__()
        except BaseException:
            await session.close()
            raise
        self._session, self._tg = session, tg

    async def close(self) -> None:
        """Cancel every loop, wait for them to finish, close the HTTP session.

        Must run in the task that called :meth:`open` (anyio task-group rule).
        """
        tg, session = self._tg, self._session
        assert tg is not None, "MonitoringService.__aexit__ without __aenter__"
        assert session is not None, "MonitoringService.__aexit__ without __aenter__"
        self._loops.clear()
        try:
            tg.cancel_scope.cancel()
            # The caller's own exception (if any) is not handed to the task group, so it
            # propagates as itself rather than wrapped in an ExceptionGroup.
            await tg.__aexit__(None, None, None)
        finally:
            self._tg = self._session = None
            with anyio.CancelScope(shield=True):
                await session.close()

    def names(self) -> list[str]:
        """Edges with a running loop, sorted."""
        return sorted(self._loops)

    def __contains__(self, edge: object) -> bool:
        return edge in self._loops

    async def start(self, target: ProbeTarget, interval_s: float, timeout_s: float) -> None:
        """Start ``target``'s loop, or retune the running one (its wait is cut short)."""
        self.require_running("start_monitor")
        assert self._tg is not None
        loop = self._loops.get(target.name)
        if loop is not None:
            loop.target, loop.interval_s, loop.timeout_s = target, interval_s, timeout_s
            loop.retuned.set()
            _log.info("monitor_retuned", edge=target.name, interval_s=interval_s)
            return
        loop = ProbeLoop(target, interval_s, timeout_s)
        self._loops[target.name] = loop
        await self._tg.start(self._run, loop, name=PROBE_TASK_PREFIX + target.name)

    def cancel(self, edges: Sequence[str] | None) -> list[ProbeLoop]:
        """Cancel the loops of ``edges`` (all when None); unknown edges are ignored.

        Synchronous, so the loops are cancelled even if the caller is cancelled while
        waiting for them with :meth:`wait_ended`.
        """
        chosen = sorted(self._loops) if edges is None else edges
        stopped: list[ProbeLoop] = []
        for name in chosen:
            loop = self._loops.pop(name, None)
            if loop is None:
                continue
            if loop.scope is not None:
                loop.scope.cancel()
            stopped.append(loop)
        return stopped

    async def wait_ended(self, loops: Sequence[ProbeLoop]) -> list[str]:
        """Wait until each of ``loops`` has ended; return their edges."""
        for loop in loops:
            await loop.done.wait()
            _log.info("monitor_stopped", edge=loop.target.name)
        return [loop.target.name for loop in loops]

    async def probe_all(self, targets: Sequence[ProbeTarget], timeout_s: float) -> None:
        """Probe every target once, concurrently, handing each result on.

        Cancellation: in-flight probes are aborted and nothing is handed on for them.
        """
        self.require_running("probe_now")
        async with anyio.create_task_group() as tg:
            for target in targets:
                tg.start_soon(self._probe, target, timeout_s)

    async def _run(self, loop: ProbeLoop, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        log = _log.bind(edge=loop.target.name)
        try:
            with anyio.CancelScope() as scope:
                loop.scope = scope
                task_status.started()
                log.info("monitor_started", url=loop.target.url, interval_s=loop.interval_s)
                while True:
                    next_at = anyio.current_time() + loop.interval_s
                    try:
                        await self._probe(loop.target, loop.timeout_s)
                    except Exception:
                        # A bug in recording must not kill the task group (and every other
                        # edge's loop with it); log it and keep probing. A cancellation is
                        # not an Exception and ends the loop.
                        log.exception("probe_loop_error")
                    with anyio.move_on_after(max(0.0, next_at - anyio.current_time())):
                        await loop.retuned.wait()
                    if loop.retuned.is_set():
                        loop.retuned = anyio.Event()
        finally:
            loop.done.set()

    async def _probe(self, target: ProbeTarget, timeout_s: float) -> None:
        session = self._session
        if session is None:
            raise ServiceNotRunning("probe needs 'async with MonitoringService()'")
        self._on_result(await probe(session, target, timeout_s=timeout_s, clock=self._clock))
