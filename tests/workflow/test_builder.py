"""WorkflowBuilder.build(): every refusal names its culprit; valid workflows are immutable."""

from __future__ import annotations

import pytest

from edge_actors.errors import ConfigError
from edge_actors.workflow import Workflow, WorkflowBuilder, WorkflowError


def _timer(b: WorkflowBuilder, node_id: str, **params: object) -> WorkflowBuilder:
    return b.add_node("WfTimer", node_id, {"operation": "wait", "delay": "1s", **params})


def test_valid_workflow() -> None:
    b = WorkflowBuilder()
    _timer(b, "one")
    b.add_node("WfTimer", "two", {"operation": "note"})
    b.add_connection("one", "result", "two", "input")
    wf = b.build()
    assert isinstance(wf, Workflow)
    assert list(wf.nodes) == ["one", "two"]
    assert wf.order == ("one", "two")
    assert wf.upstream("two") == ("one",)
    assert wf.downstream("one") == ("two",)
    assert wf.nodes["two"].operation == "note"
    assert wf.initial_params("two") == {"operation": "note", "text": "hello", "label": None}


def test_workflow_keeps_its_own_copy_of_params() -> None:
    params: dict[str, object] = {"operation": "note", "text": ["a"]}
    b = WorkflowBuilder().add_node("WfTimer", "n", params)
    wf = b.build()
    params["text"].append("b")  # type: ignore[attr-defined]
    params["bogus"] = 1
    assert wf.nodes["n"].config == {"operation": "note", "text": ["a"]}
    b.add_node("WfTimer", "later", {"operation": "note"})
    assert list(wf.nodes) == ["n"]


def test_workflow_error_is_a_config_error() -> None:
    assert issubclass(WorkflowError, ConfigError)


def test_unknown_node_type_names_registered_ones() -> None:
    b = WorkflowBuilder().add_node("NoSuchNode", "x", {"operation": "wait"})
    with pytest.raises(WorkflowError) as info:
        b.build()
    message = str(info.value)
    assert message.startswith("node 'x': unknown node type 'NoSuchNode' (registered: ")
    assert "WfTimer" in message


def test_missing_operation_names_operations() -> None:
    b = WorkflowBuilder().add_node("WfTimer", "x", {"delay": "1s"})
    with pytest.raises(WorkflowError, match=r"^node 'x' \(WfTimer\): missing 'operation' "):
        b.build()
    with pytest.raises(WorkflowError, match=r"\(operations: note, wait\)$"):
        b.build()


def test_unknown_operation_names_operations() -> None:
    b = WorkflowBuilder().add_node("WfTimer", "x", {"operation": "explode"})
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert str(info.value) == (
        "node 'x' (WfTimer): unknown operation 'explode' (operations: note, wait)"
    )


def test_node_without_params_still_needs_an_operation() -> None:
    with pytest.raises(WorkflowError, match="missing 'operation'"):
        WorkflowBuilder().add_node("WfTimer", "x").build()


def test_duplicate_node_ids() -> None:
    b = WorkflowBuilder()
    _timer(b, "x")
    _timer(b, "x")
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert str(info.value) == "duplicate node id 'x': node ids must be unique"


def test_connections_to_and_from_missing_nodes() -> None:
    b = WorkflowBuilder()
    _timer(b, "real")
    b.add_connection("ghost", "result", "real", "input")
    b.add_connection("real", "result", "phantom", "input")
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert info.value.problems == (
        "connection ghost.result -> real.input: source node 'ghost' does not exist (nodes: 'real')",
        "connection real.result -> phantom.input: target node 'phantom' does not exist "
        "(nodes: 'real')",
    )


def test_cycle_names_the_nodes_on_it() -> None:
    b = WorkflowBuilder()
    for node_id in ("start", "a", "b", "c", "after"):
        _timer(b, node_id)
    b.add_connection("start", "result", "a", "input")
    b.add_connection("a", "result", "b", "input")
    b.add_connection("b", "result", "c", "input")
    b.add_connection("c", "result", "a", "again")
    b.add_connection("c", "result", "after", "input")
    with pytest.raises(WorkflowError) as info:
        b.build()
    message = str(info.value)
    assert message.startswith("connections form a cycle: ")
    cycle = message.removeprefix("connections form a cycle: ").split(" -> ")
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["'a'", "'b'", "'c'"]


def test_self_connection_is_a_cycle() -> None:
    b = _timer(WorkflowBuilder(), "loop").add_connection("loop", "result", "loop", "input")
    with pytest.raises(WorkflowError, match=r"cycle: 'loop' -> 'loop'$"):
        b.build()


def test_unknown_config_key_names_key_node_and_known_keys() -> None:
    b = _timer(WorkflowBuilder(), "t", dealy="5s")
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert str(info.value) == (
        "node 't' (WfTimer.wait): unknown parameter 'dealy' "
        "(known for 'wait': delay, label, operation, timeout)"
    )


def test_bad_value_is_refused_by_the_node_types_validator() -> None:
    b = _timer(WorkflowBuilder(), "t", delay="5 fortnights")
    with pytest.raises(WorkflowError) as info:
        b.build()
    message = str(info.value)
    assert message.startswith("node 't' (WfTimer.wait): delay: unknown duration unit")
    assert "'5 fortnights'" in message


def test_bad_timeout_is_refused() -> None:
    b = _timer(WorkflowBuilder(), "t", timeout="-3s")
    with pytest.raises(WorkflowError, match=r"^node 't': timeout: "):
        b.build()


def test_required_parameter_missing_unless_connected() -> None:
    b = WorkflowBuilder().add_node("WfTimer", "t", {"operation": "wait"})
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert str(info.value) == (
        "node 't' (WfTimer.wait): missing required parameter 'delay' "
        "(set it or connect an output to it)"
    )
    b.add_node("WfTimer", "src", {"operation": "note"})
    b.add_connection("src", "result.text", "t", "delay")
    assert b.build().incoming("t")[0].source_output == "result.text"


def test_input_connected_twice() -> None:
    b = WorkflowBuilder()
    for node_id in ("a", "b", "c"):
        _timer(b, node_id)
    b.add_connection("a", "status", "c", "input")
    b.add_connection("b", "status", "c", "input")
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert str(info.value) == (
        "input 'input' of node 'c' is connected twice (a.status -> c.input and "
        "b.status -> c.input); give each connection its own input name"
    )


def test_empty_output_or_input_name() -> None:
    b = WorkflowBuilder()
    _timer(b, "a")
    _timer(b, "b")
    b.add_connection("a", "", "b", "input")
    with pytest.raises(WorkflowError, match="source output must be a non-empty string"):
        b.build()


def test_every_problem_is_reported_at_once() -> None:
    b = WorkflowBuilder()
    b.add_node("Nope", "x", {"operation": "go"})
    b.add_node("WfTimer", "y", {"operation": "wait", "delay": "soon"})
    b.add_connection("x", "result", "z", "input")
    with pytest.raises(WorkflowError) as info:
        b.build()
    assert len(info.value.problems) == 3
    assert str(info.value).startswith("workflow has 3 problems:\n  - node 'x': unknown node type")


def test_params_must_be_a_mapping() -> None:
    b = WorkflowBuilder().add_node("WfTimer", "x", ["operation"])  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match="node 'x': params must be a dict with string keys"):
        b.build()
