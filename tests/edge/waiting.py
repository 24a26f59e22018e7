"""Bounded waits on a state the code exposes (never a fixed sleep, then an assertion)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable


async def until(condition: Callable[[], bool], what: str, *, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is true; fail the test naming ``what`` after ``timeout``."""
    try:
        with anyio.fail_after(timeout):
            while not condition():
                await anyio.sleep(0.002)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")
