"""``async with`` support for every object that is closed with ``await obj.aclose()``
(a shared leaf: any layer may use it).

Entering returns the object itself; leaving calls :meth:`AsyncClosing.aclose`. Classes
whose entry does real work (an edge daemon starting its server) override ``__aenter__``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncClosing"]


class AsyncClosing(ABC):
    """``async with obj:`` returns ``obj`` and runs ``await obj.aclose()`` on exit."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the object's resources."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
