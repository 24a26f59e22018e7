"""Fixtures of the runtime tests; node types and services live in ``rt_support``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import rt_support  # noqa: F401  # registers the test node types

from edge_actors.runtime import Engine

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A private engine, shut down after the test."""
    eng = Engine()
    yield eng
    eng.shutdown(timeout=5)
