"""The runtime's clock reaches the services of its engine's edge environment."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from edge_actors.clock import SYSTEM_CLOCK, ManualClock
from edge_actors.errors import ConfigError
from edge_actors.runtime import (
    Engine,
    EnvironmentConfig,
    LocalRuntime,
    configure_environment,
    get_environment,
)

if TYPE_CHECKING:
    from pathlib import Path

_NOON = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_a_runtime_with_a_clock_runs_on_an_engine_of_that_clock(tmp_path: Path) -> None:
    clock = ManualClock(_NOON)
    runtime = LocalRuntime(clock=clock)
    try:
        assert runtime.clock is clock
        assert runtime.engine.clock is clock
        env = configure_environment(
            EnvironmentConfig(data_dir=str(tmp_path / "data")), engine=runtime.engine
        )
        assert env.clock is clock
        assert env.migration.clock is clock
        assert env.monitoring.clock is clock
    finally:
        runtime.engine.shutdown(timeout=5)


def test_the_environment_a_node_reaches_reads_the_engine_clock(engine: Engine) -> None:
    clock = ManualClock(_NOON)
    private = Engine(clock=clock)
    try:
        env = private.call(get_environment, private)
        assert env.migration.clock is clock
        assert env.monitoring.record_metric("edge-a", "latency", 5.0).timestamp == _NOON.timestamp()
    finally:
        private.shutdown(timeout=5)
    assert engine.clock is SYSTEM_CLOCK


def test_a_runtime_refuses_an_engine_of_another_clock(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="clock"):
        LocalRuntime(engine, clock=ManualClock())
    assert LocalRuntime(engine).clock is SYSTEM_CLOCK
