"""The store layer's closeable objects: closed with ``await obj.close()`` (their public
name), and usable with ``async with`` through the shared :class:`AsyncClosing`."""

from __future__ import annotations

from abc import abstractmethod

from edge_actors._closing import AsyncClosing

__all__ = ["AsyncCloseable"]


class AsyncCloseable(AsyncClosing):
    """``async with obj:`` returns ``obj`` and calls ``await obj.close()`` on exit."""

    @abstractmethod
    async def close(self) -> None:
        """Release the object's resources."""

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        await self.close()
