"""Fixtures of the node tests: a private engine whose edge environment is the embedded
default (real in-process daemons started on first use) under the test's tmp dir."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.runtime import Engine, EnvironmentConfig, configure_environment

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A private engine with an embedded environment under ``tmp_path / 'data'``."""
    eng = Engine()
    configure_environment(EnvironmentConfig(data_dir=str(tmp_path / "data")), engine=eng)
    try:
        yield eng
    finally:
        eng.shutdown()
