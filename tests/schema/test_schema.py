"""The shared input types and ``convert``: one rule per name, one message shape."""

from __future__ import annotations

from typing import Any

import pytest

from edge_actors.errors import ConfigError
from edge_actors.migration import STRATEGIES, PlanRequest, check_plan_values, coerce_request
from edge_actors.schema import (
    EdgeName,
    MetricName,
    MigrationId,
    StrategyName,
    TestEndpoint,
    WorkloadName,
    convert,
    short,
)
from edge_actors.workflow import WorkflowBuilder


@pytest.mark.parametrize("tp", [EdgeName, WorkloadName, MigrationId, MetricName, TestEndpoint])
def test_a_trailing_newline_is_not_part_of_a_valid_name(tp: Any) -> None:
    good = "/ok" if tp is TestEndpoint else "ok"
    assert convert(good, tp) == good
    with pytest.raises(ConfigError, match=r"^name: expected .*, got '.*\\n'$"):
        convert(good + "\n", tp, field="name")


@pytest.mark.parametrize(
    ("value", "tp", "message"),
    [
        ("a..b", WorkloadName, "w: expected a workload name (lower-case letters, digits, '.', "
         "'_', '-'; up to 63 characters, no '..'), got 'a..b'"),
        ("Orders", WorkloadName, "w: expected a workload name"),
        ("e" * 64, EdgeName, "w: expected an edge name"),
        ("e" * 63, EdgeName, None),
        ("-x", MigrationId, "w: expected a migration id"),
        (True, StrategyName, "w: expected one of live, staged, bulk, incremental, emergency, "
         "got True"),
    ],
)  # fmt: skip
def test_convert_names_the_field_the_rule_and_the_value(
    value: object, tp: Any, message: str | None
) -> None:
    if message is None:
        assert convert(value, tp, field="w") == value
        return
    with pytest.raises(ConfigError) as caught:
        convert(value, tp, field="w")
    assert str(caught.value).startswith(message), str(caught.value)


def test_paths_inside_a_struct_name_the_field_without_list_indices() -> None:
    raw = {"source_edge": "a", "target_edge": "b", "workloads": ["ok", "NO"]}
    with pytest.raises(ConfigError, match=r"^workloads: expected a workload name .*got 'NO'$"):
        convert(raw, PlanRequest)
    with pytest.raises(ConfigError, match=r"^constraints: names must be strings, got 3$"):
        convert({**raw, "workloads": ["ok"], "constraints": {3: 1}}, PlanRequest)
    with pytest.raises(ConfigError, match=r"^workloads: required, but not given$"):
        convert({"source_edge": "a", "target_edge": "b"}, PlanRequest)
    with pytest.raises(ConfigError, match=r"^sourc: unknown field$"):
        convert({**raw, "workloads": ["ok"], "sourc": 1}, PlanRequest)


def test_the_strategy_type_lists_exactly_the_registered_strategies() -> None:
    for name in STRATEGIES:
        assert convert(name, StrategyName) == name
    with pytest.raises(ConfigError, match="expected one of"):
        convert("teleport", StrategyName)


def test_short_cuts_a_long_repr() -> None:
    assert short("abc") == "'abc'"
    assert short("x" * 500) == "'" + "x" * 76 + "..."
    assert len(short(list(range(1000)), 40)) == 40


def test_a_plan_takes_a_bandwidth_as_text_like_the_node_does() -> None:
    request = coerce_request(
        {
            "source_edge": "a",
            "target_edge": "b",
            "workloads": ["w"],
            "bandwidth_limit_mbps": "50mbps",
        }
    )
    assert request.bandwidth_limit_mbps == "50mbps"
    check_plan_values({"bandwidth_limit_mbps": "50mbps"})


def test_the_checkpoint_of_a_64_character_migration_id_is_a_valid_checkpoint_id() -> None:
    """Checkpoints are named ``<migration id>-cpN``: longer than any migration id."""
    migration_id = "m" * 64
    assert convert(migration_id, MigrationId) == migration_id
    builder = WorkflowBuilder()
    builder.add_node(
        "EdgeMigrationNode",
        "rollback",
        {"operation": "rollback_migration", "migration_id": migration_id,
         "checkpoint_id": f"{migration_id}-cp12"},
    )  # fmt: skip
    builder.build()
