"""Synchronous entry points: a background event-loop thread and ``run_main`` (layer: actors).

``LoopThread`` lets plain synchronous code drive an ``ActorSystem``: the loop (uvloop when
installed, plain asyncio otherwise) runs in a daemon thread behind an anyio blocking
portal, and ``run`` blocks the calling thread for one coroutine's result.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Self, TypeVar, TypeVarTuple, Unpack

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager, AbstractContextManager
    from types import TracebackType

__all__ = ["LoopThread", "run_main", "uvloop_available"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def uvloop_available() -> bool:
    """Whether uvloop can be imported (it is optional on some platforms)."""
    return importlib.util.find_spec("uvloop") is not None


def _backend_options(use_uvloop: bool) -> dict[str, Any]:
    return {"use_uvloop": use_uvloop and uvloop_available()}


def run_main(
    async_fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts, use_uvloop: bool = True
) -> T:
    """Run ``async_fn(*args)`` to completion on a new event loop and return its result.

    Like ``anyio.run`` on the asyncio backend, with uvloop when installed (and wanted).
    """
    return anyio.run(
        async_fn, *args, backend="asyncio", backend_options=_backend_options(use_uvloop)
    )


class LoopThread:
    """An event loop in a background thread, for driving actors from synchronous code.

    Example::

        with LoopThread() as loop, loop.enter(ActorSystem()) as system:
            ref = loop.run(system.spawn, Echo)
            print(loop.run(ref.ask, Ping(1)))

    ``run`` blocks the calling thread until the coroutine finishes on the loop and
    re-raises its exception; exiting the context manager waits for the tasks started
    through the portal and stops the loop.
    """

    def __init__(self, *, use_uvloop: bool = True) -> None:
        self._use_uvloop = use_uvloop
        self._cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None

    @property
    def portal(self) -> BlockingPortal:
        """The anyio blocking portal onto the loop (``call``, ``start_task_soon``, ...)."""
        if self._portal is None:
            raise RuntimeError("LoopThread is not running; use it as a context manager")
        return self._portal

    def __enter__(self) -> Self:
        cm = start_blocking_portal(
            backend="asyncio", backend_options=_backend_options(self._use_uvloop)
        )
        self._portal = cm.__enter__()
        self._cm = cm
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        cm, self._cm, self._portal = self._cm, None, None
        assert cm is not None
        return cm.__exit__(exc_type, exc, tb)

    def run(self, async_fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``async_fn(*args)`` on the loop, blocking this thread for the result.

        Must not be called from the loop thread itself. If the calling thread cannot wait
        any more, there is no cancellation: use ``portal.start_task_soon`` for that.
        """
        return self.portal.call(async_fn, *args)

    def enter(self, cm: AbstractAsyncContextManager[T]) -> AbstractContextManager[T]:
        """Wrap an async context manager (e.g. an ``ActorSystem``) for use in a ``with``.

        Its ``__aenter__`` and ``__aexit__`` run in one task on the loop.
        """
        return self.portal.wrap_async_context_manager(cm)
