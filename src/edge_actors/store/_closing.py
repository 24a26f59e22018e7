"""A mixin giving ``async with`` support to the store layer's closeable objects."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncCloseable"]


class AsyncCloseable(ABC):
    """``async with obj:`` returns ``obj`` and calls ``await obj.close()`` on exit."""

    @abstractmethod
    async def close(self) -> None:
        """Release the object's resources."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
