"""The embedded engine: one background event loop and its service registry (layer: runtime).

Every workflow of every :class:`~edge_actors.runtime.LocalRuntime` in the process runs on
this loop, so state kept in *services* (the migration supervisor, monitors, link
limiters) is shared across workflows and runtimes and keeps working after a synchronous
``execute()`` returns. The loop is an :class:`edge_actors.actors.LoopThread` (uvloop when
installed). A dedicated *host* task on the loop enters each service's async context
manager into one ``AsyncExitStack``, so services may own task groups, and closes them in
reverse order of creation at shutdown.

Lifecycle: started lazily (and thread-safely) on first use; shut down by
:meth:`Engine.shutdown` or at interpreter exit (``atexit``). Shutdown cancels the calls in
flight, then closes the services, all within ``shutdown_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import threading
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Literal, TypeVar, TypeVarTuple, Unpack, cast

import anyio

from edge_actors._log import get_logger
from edge_actors.actors import LoopThread
from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.errors import ConfigError

from ._errors import EngineError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from concurrent.futures import Future
    from contextlib import AbstractAsyncContextManager

    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["Engine", "EngineState", "default_engine"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

EngineState = Literal["new", "running", "stopping", "stopped"]
"""``new`` (never used), ``running``, ``stopping`` (shutdown in progress), ``stopped``."""

_log = get_logger("engine")


class _ServiceEntry:
    """One service slot: filled once by the host task; waiters share the outcome."""

    __slots__ = ("error", "ready", "value", "waiting")

    def __init__(self) -> None:
        self.ready = anyio.Event()
        self.value: object = None
        self.error: BaseException | None = None
        self.waiting = 0  # callers waiting for ``ready``


_Request = tuple[type, "Callable[[], AbstractAsyncContextManager[object]]", _ServiceEntry]


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Engine:
    """A background event loop that runs workflows and hosts shared services.

    Most code uses the process-wide :func:`default_engine` (what ``LocalRuntime()``
    picks); a private ``Engine`` is useful for isolation (tests, embedding).

    Args:
        use_uvloop: run the loop on uvloop when it is installed.
        shutdown_timeout: seconds :meth:`shutdown` may take to cancel the calls in flight
            and close the services (default 10).
        clock: the time its services read (the edge environment's migration and
            monitoring services); a ``ManualClock`` makes time windows, checkpoint
            intervals and monitoring windows follow the test, not the machine's hour.

    Raises:
        ConfigError: ``shutdown_timeout`` is not a positive number.
    """

    def __init__(
        self,
        *,
        use_uvloop: bool = True,
        shutdown_timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if isinstance(shutdown_timeout, bool) or not (
            isinstance(shutdown_timeout, int | float) and 0 < shutdown_timeout < math.inf
        ):
            raise ConfigError(
                f"shutdown_timeout: expected positive seconds, got {shutdown_timeout!r}"
            )
        self._use_uvloop = use_uvloop
        self._clock = clock
        self._shutdown_timeout = float(shutdown_timeout)
        self._lock = threading.Lock()
        self._state: EngineState = "new"
        self._loop_thread: LoopThread | None = None
        self._thread_id: int | None = None
        self._host_future: Future[None] | None = None
        self._host_task_id: int | None = None
        self._host_alive = False
        self._host_done: anyio.Event | None = None
        self._requests: MemoryObjectSendStream[_Request] | None = None
        self._stack: AsyncExitStack | None = None
        self._close_scope: anyio.CancelScope | None = None
        self._services: dict[type, _ServiceEntry] = {}
        self._calls: set[anyio.CancelScope] = set()
        self._calls_idle: anyio.Event | None = None
        self._exit_hooks: list[Callable[[], Awaitable[None]]] = []

    # -- lifecycle -------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The clock the engine's services read time from."""
        return self._clock

    @property
    def state(self) -> EngineState:
        """The lifecycle state."""
        return self._state

    def start(self) -> None:
        """Start the loop thread and the service host; a no-op when already running.

        Thread-safe; blocks the calling thread until the loop is up (milliseconds).

        Raises:
            EngineError: the engine was shut down (engines do not restart).
        """
        with self._lock:
            if self._state == "running":
                return
            if self._state != "new":
                raise EngineError(f"the engine is {self._state}; create a new Engine")
            loop_thread = LoopThread(use_uvloop=self._use_uvloop)
            loop_thread.__enter__()
            try:
                self._thread_id = loop_thread.portal.call(threading.get_ident)
                self._host_future, _ = loop_thread.portal.start_task(self._host)
            except BaseException:
                loop_thread.__exit__(None, None, None)
                raise
            self._loop_thread = loop_thread
            self._state = "running"
            atexit.register(self._shutdown_at_exit)
        _log.debug("engine.started", use_uvloop=self._use_uvloop)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel the calls in flight, close every service (newest first), stop the loop.

        Idempotent and thread-safe; blocks the calling thread. Services still closing when
        the timeout expires are cancelled.

        Args:
            timeout: seconds for the whole shutdown (default: ``shutdown_timeout``).

        Raises:
            EngineError: called from the engine's own loop (it would wait for itself).
        """
        if threading.get_ident() == self._thread_id:
            raise EngineError("Engine.shutdown() cannot be called from the engine's own loop")
        with self._lock:
            if self._state != "running":
                if self._state == "new":
                    self._state = "stopped"
                return
            self._state = "stopping"
            loop_thread = self._loop_thread
        assert loop_thread is not None
        limit = self._shutdown_timeout if timeout is None else timeout
        try:
            loop_thread.portal.call(self._stop, limit)
        finally:
            loop_thread.__exit__(None, None, None)
            atexit.unregister(self._shutdown_at_exit)
            with self._lock:
                self._state = "stopped"
                self._loop_thread = None
            _log.debug("engine.stopped")

    def at_exit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook()`` on the engine loop at interpreter exit, before the shutdown.

        Hooks run in the order added, each to its end unless the user interrupts it
        (Ctrl-C stops that hook and goes on with the next). Not run by an explicit
        :meth:`shutdown`: a program that shuts its engine down has decided what to wait for.
        """
        self._exit_hooks.append(hook)

    def _shutdown_at_exit(self) -> None:
        for hook in list(self._exit_hooks):
            try:
                self.call(hook)
            except KeyboardInterrupt:
                # The hook still runs on the loop: cancel it before the next one starts.
                self._portal_or_error().portal.call(self._cancel_calls)
                _log.info("engine.exit_hook_interrupted")
            except Exception as exc:  # never raise from an atexit hook
                _log.warning("engine.exit_hook_failed", error=f"{type(exc).__name__}: {exc}")
        try:
            self.shutdown()
        except Exception as exc:  # never raise from an atexit hook
            _log.warning("engine.shutdown_failed", error=f"{type(exc).__name__}: {exc}")

    async def _cancel_calls(self) -> None:
        for scope in list(self._calls):
            scope.cancel()

    async def _stop(self, limit: float) -> None:
        deadline = anyio.current_time() + limit
        with anyio.CancelScope(deadline=deadline):
            for scope in list(self._calls):
                scope.cancel()
            if self._calls:
                self._calls_idle = anyio.Event()
                await self._calls_idle.wait()
        if self._close_scope is not None:
            self._close_scope.deadline = deadline
        if self._requests is not None:
            self._requests.close()
        if self._host_done is not None:
            # The host closes the services by the same deadline; the grace second covers
            # services that take a moment to honour their cancellation.
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time()) + 1.0):
                await self._host_done.wait()

    async def _host(self, *, task_status: TaskStatus[None]) -> None:
        send, receive = anyio.create_memory_object_stream[_Request](math.inf)
        self._requests = send
        self._host_task_id = anyio.get_current_task().id
        self._host_alive = True
        self._host_done = anyio.Event()
        try:
            with anyio.CancelScope() as close_scope:
                self._close_scope = close_scope
                async with AsyncExitStack() as stack:
                    self._stack = stack
                    task_status.started()
                    async with receive:
                        async for key, factory, entry in receive:
                            await self._create(key, factory, entry)
                    _log.debug("engine.closing_services", services=len(self._services))
            if close_scope.cancelled_caught:
                _log.warning("engine.services_close_timeout")
        finally:
            self._host_alive = False
            for entry in self._services.values():
                if not entry.ready.is_set():
                    entry.error = EngineError("the engine shut down before the service started")
                    entry.ready.set()
            self._services.clear()
            self._host_done.set()

    async def _create(
        self,
        key: type,
        factory: Callable[[], AbstractAsyncContextManager[object]],
        entry: _ServiceEntry,
    ) -> None:
        assert self._stack is not None
        try:
            entry.value = await self._stack.enter_async_context(factory())
        except Exception as exc:
            entry.error = exc
            self._services.pop(key, None)
            _log.warning("engine.service_failed", service=key.__qualname__, error=str(exc))
        except BaseException:
            # Cancelled (shutdown's deadline) mid-creation: waiters get an error, never None.
            entry.error = EngineError(f"service {key.__qualname__} was cancelled while starting")
            self._services.pop(key, None)
            raise
        else:
            _log.debug("engine.service_started", service=key.__qualname__)
        finally:
            entry.ready.set()

    # -- calls -----------------------------------------------------------------------

    def _portal_or_error(self) -> LoopThread:
        loop_thread = self._loop_thread
        if self._state != "running" or loop_thread is None:
            raise EngineError(f"the engine is {self._state}")
        return loop_thread

    async def _tracked(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        if self._state != "running":
            raise EngineError(f"the engine is {self._state}")
        with anyio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                return await fn(*args)
            finally:
                self._calls.discard(scope)
                if not self._calls and self._calls_idle is not None:
                    self._calls_idle.set()
        raise EngineError("the engine shut down while the call was running")

    def call(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``fn(*args)`` on the engine loop, blocking this thread until it finishes.

        Raises:
            EngineError: called from a thread that runs an event loop (it would block
                that loop; use :meth:`call_async`), or the engine is shut down or shuts
                down during the call.
        """
        if _in_running_loop():
            raise EngineError(
                "Engine.call() would block the running event loop; use await engine.call_async()"
            )
        self.start()
        return self._portal_or_error().portal.call(self._tracked, fn, *args)

    async def call_async(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``fn(*args)`` on the engine loop and await its result without blocking.

        From the engine loop itself this simply awaits ``fn(*args)``. From another loop,
        the call runs as a task on the engine loop; cancelling the caller cancels that
        task and waits for it to finish.

        Raises:
            EngineError: the engine is shut down or shuts down during the call.
        """
        if threading.get_ident() == self._thread_id:
            return await self._tracked(fn, *args)
        if self._state != "running":
            await anyio.to_thread.run_sync(self.start)
        return await self._portal_or_error().portal.call_async(self._tracked, fn, *args)

    # -- services --------------------------------------------------------------------

    def service_waiters(self, key: type) -> int:
        """How many callers of :meth:`service` wait for ``key``'s service to be created.

        0 once it is ready (or if it was never asked for). A diagnostic that tests use to
        know that concurrent callers really are waiting, instead of sleeping.
        """
        entry = self._services.get(key)
        return 0 if entry is None else entry.waiting

    async def service(
        self, key: type[T], factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> T:
        """Return the process-wide service stored under ``key``, creating it once.

        The first caller's ``factory()`` is entered (``async with``) by the engine's host
        task and stays open until shutdown, so the service may run background tasks;
        concurrent callers wait for and share the same instance. A factory may itself
        ask for other services (they are then closed after it). Cancelling a waiting
        caller does not cancel the creation.

        Args:
            key: the service's class, used as the registry key and for typing.
            factory: makes the service's async context manager (called at most once per
                successful creation; a failed creation is retried by the next caller).

        Raises:
            EngineError: the engine is shut down, or ``factory`` failed (chained).
        """
        if threading.get_ident() != self._thread_id:
            return await self.call_async(self.service, key, factory)
        entry = self._services.get(key)
        if entry is None:
            if self._state != "running" or not self._host_alive or self._requests is None:
                raise EngineError(f"the engine is {self._state}; no new services")
            entry = _ServiceEntry()
            self._services[key] = entry
            if anyio.get_current_task().id == self._host_task_id:
                await self._create(key, factory, entry)
            else:
                self._requests.send_nowait((key, factory, entry))
        entry.waiting += 1
        try:
            await entry.ready.wait()
        finally:
            entry.waiting -= 1
        if entry.error is not None:
            raise EngineError(
                f"service {key.__qualname__} could not be started: "
                f"{type(entry.error).__name__}: {entry.error}"
            ) from entry.error
        return cast("T", entry.value)


_default_lock = threading.Lock()
_default: Engine | None = None


def default_engine() -> Engine:
    """Return the process-wide engine (a new one if the previous one was shut down).

    It is not started until first used. ``LocalRuntime()`` uses it by default, which is
    how every runtime of a process shares services.
    """
    global _default
    with _default_lock:
        if _default is None or _default.state in ("stopping", "stopped"):
            _default = Engine()
        return _default
