"""register_node_type checks a node type's declarations before accepting it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pytest

from edge_actors.runtime import LocalRuntime
from edge_actors.workflow import (
    Node,
    NodeContext,
    OperationSpec,
    ParamSpec,
    WorkflowBuilder,
    get_node_type,
    register_node_type,
    registered_node_types,
    unregister_node_type,
)
from edge_actors.workflow import WorkflowError as WE

if TYPE_CHECKING:
    from collections.abc import Mapping


class _Base(Node):
    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        return {"status": "ok", "result": None}


def test_register_lookup_and_unregister() -> None:
    class Ok(_Base):
        type_name: ClassVar[str] = "RegOk"
        operations: ClassVar[Mapping[str, OperationSpec]] = {"go": OperationSpec()}

    assert register_node_type(Ok) is Ok
    assert register_node_type(Ok) is Ok  # idempotent
    assert get_node_type("RegOk") is Ok
    assert registered_node_types()["RegOk"] is Ok

    class Other(_Base):
        type_name: ClassVar[str] = "RegOk"
        operations: ClassVar[Mapping[str, OperationSpec]] = {"go": OperationSpec()}

    with pytest.raises(WE, match="node type 'RegOk' is already registered by"):
        register_node_type(Other)
    assert register_node_type(Other, replace=True) is Other
    unregister_node_type("RegOk")
    with pytest.raises(WE, match="unknown node type 'RegOk'"):
        get_node_type("RegOk")


def test_reserved_and_duplicate_parameters_are_refused() -> None:
    class Bad(_Base):
        type_name: ClassVar[str] = "RegBad"
        operations: ClassVar[Mapping[str, OperationSpec]] = {
            "go": OperationSpec(
                params=(
                    ParamSpec("timeout"),
                    ParamSpec("x"),
                    ParamSpec("x"),
                    ParamSpec("y", aliases=("operation", "x")),
                )
            )
        }

    with pytest.raises(WE) as info:
        register_node_type(Bad)
    assert info.value.problems == (
        "node type 'RegBad': operation 'go' declares reserved parameter 'timeout' "
        "(the framework provides it)",
        "node type 'RegBad': operation 'go' declares parameter 'x' twice",
        "node type 'RegBad': operation 'go' declares reserved parameter 'operation' "
        "(the framework provides it)",
        "node type 'RegBad': operation 'go' declares parameter 'x' twice",
    )


def test_malformed_declarations_are_refused() -> None:
    class NoName(_Base):
        operations: ClassVar[Mapping[str, OperationSpec]] = {"go": OperationSpec()}

    class NoOps(_Base):
        type_name: ClassVar[str] = "RegNoOps"
        operations: ClassVar[Mapping[str, OperationSpec]] = {}

    class Abstract(Node):
        type_name: ClassVar[str] = "RegAbstract"
        operations: ClassVar[Mapping[str, OperationSpec]] = {"go": OperationSpec()}

    with pytest.raises(WE, match="type_name must be a non-empty string"):
        register_node_type(NoName)
    with pytest.raises(WE, match="operations must be a non-empty mapping"):
        register_node_type(NoOps)
    with pytest.raises(WE, match="does not implement run"):
        register_node_type(Abstract)
    with pytest.raises(WE, match="expects a Node subclass"):
        register_node_type(int)  # type: ignore[type-var]


@pytest.mark.anyio
async def test_an_alias_meets_required_and_arrives_over_a_connection() -> None:
    class Echo(Node):
        type_name: ClassVar[str] = "RegAliasEcho"
        operations: ClassVar[Mapping[str, OperationSpec]] = {
            "go": OperationSpec(params=(ParamSpec("edge", required=True, aliases=("edge_node",)),))
        }

        async def run(
            self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
        ) -> dict[str, object]:
            return {"status": "ok", "result": params}

    register_node_type(Echo)
    try:
        assert Echo.known_keys("go") == ["edge", "edge_node", "operation", "timeout"]
        missing = WorkflowBuilder()
        missing.add_node("RegAliasEcho", "n", {"operation": "go"})
        with pytest.raises(WE, match="missing required parameter 'edge' or 'edge_node'"):
            missing.build()
        b = WorkflowBuilder()
        b.add_node("RegAliasEcho", "set", {"operation": "go", "edge_node": "a"})
        b.add_node("RegAliasEcho", "linked", {"operation": "go"})
        b.add_connection("set", "result.edge_node", "linked", "edge_node")
        results, _ = await LocalRuntime().execute_async(b.build())
        # The node sees the name it was given, and no default under the other one.
        assert results["set"]["result"] == {"operation": "go", "edge_node": "a"}
        assert results["linked"]["result"] == {"operation": "go", "edge_node": "a"}
    finally:
        unregister_node_type("RegAliasEcho")
