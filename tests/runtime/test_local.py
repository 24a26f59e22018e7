"""LocalRuntime: ordering, concurrency, connections, failures, timeouts, sync vs async."""

from __future__ import annotations

import uuid

import anyio
import pytest
from rt_support import Recorder, gate_state, open_gate, recorder
from structlog.testing import capture_logs

from edge_actors.runtime import EngineError, LocalRuntime, default_engine
from edge_actors.workflow import Workflow, WorkflowBuilder, WorkflowError


def _calc(wb: WorkflowBuilder, node_id: str, op: str, **params: object) -> None:
    wb.add_node("RtCalc", node_id, {"operation": op, **params})


async def _started_order(run_id: str) -> list[str]:
    async def _get() -> list[str]:
        rec = await default_engine().service(Recorder, recorder)
        return rec.started[run_id]

    return await default_engine().call_async(_get)


def diamond() -> Workflow:
    b = WorkflowBuilder()
    _calc(b, "d", "echo")
    _calc(b, "b", "add", b=1)
    _calc(b, "c", "add", b=2)
    _calc(b, "a", "add", a=10)
    b.add_connection("a", "result", "b", "a")
    b.add_connection("a", "result", "c", "a")
    b.add_connection("b", "result", "d", "left")
    b.add_connection("c", "result", "d", "right")
    return b.build()


@pytest.mark.anyio
async def test_dependency_order_and_values() -> None:
    results, run_id = await LocalRuntime().execute_async(diamond())
    order = await _started_order(run_id)
    assert order[0] == "a"
    assert order[-1] == "d"
    assert set(order[1:3]) == {"b", "c"}
    assert results["b"]["result"] == 11
    assert results["c"]["result"] == 12
    assert results["d"]["result"] == {
        "params": {"operation": "echo", "value": None, "tag": None},
        "inputs": {"left": 11, "right": 12},
    }
    assert list(results) == ["d", "b", "c", "a"]  # the order nodes were added


def test_execute_and_execute_async_agree() -> None:
    workflow = diamond()
    sync_results, sync_id = LocalRuntime().execute(workflow)

    async def main() -> tuple[dict[str, dict[str, object]], str]:
        return await LocalRuntime().execute_async(workflow)

    async_results, async_id = anyio.run(main)
    assert sync_results == async_results
    assert sync_id != async_id


@pytest.mark.anyio
async def test_independent_nodes_run_concurrently() -> None:
    token = uuid.uuid4().hex
    b = WorkflowBuilder()
    b.add_node("RtMeet", "x", {"operation": "meet", "me": f"{token}x", "partner": f"{token}y"})
    b.add_node("RtMeet", "y", {"operation": "meet", "me": f"{token}y", "partner": f"{token}x"})
    results, _ = await LocalRuntime(max_concurrency=2).execute_async(b.build())
    assert results["x"]["status"] == results["y"]["status"] == "ok"


@pytest.mark.anyio
async def test_max_concurrency_one_runs_nodes_one_at_a_time() -> None:
    token = uuid.uuid4().hex
    b = WorkflowBuilder()
    for me, partner in (("x", "y"), ("y", "x")):
        b.add_node(
            "RtMeet",
            me,
            {"operation": "meet", "me": token + me, "partner": token + partner, "timeout": 0.2},
        )
    results, _ = await LocalRuntime(max_concurrency=1).execute_async(b.build())
    # The first node cannot meet its partner, which only starts once it has finished.
    assert results["x"]["status"] == "error"
    assert "timed out after 0.2s" in str(results["x"]["error"])
    assert results["y"]["status"] == "ok"


@pytest.mark.anyio
async def test_dotted_paths_and_list_indices() -> None:
    b = WorkflowBuilder()
    _calc(b, "src", "add", a=3, b=4)
    _calc(b, "dst", "echo")
    b.add_connection("src", "detail.sum", "dst", "total")
    b.add_connection("src", "detail.items.1.v", "dst", "second")
    b.add_connection("src", "detail.items[0].v", "dst", "first")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["dst"]["result"]["inputs"] == {"total": 7, "second": 4, "first": 3}  # type: ignore[index]


@pytest.mark.anyio
async def test_missing_path_fails_the_target_naming_path_and_keys() -> None:
    b = WorkflowBuilder()
    _calc(b, "src", "add", a=1)
    _calc(b, "dst", "echo")
    _calc(b, "after", "echo")
    b.add_connection("src", "detail.migration_id", "dst", "value")
    b.add_connection("dst", "result", "after", "x")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["src"]["status"] == "ok"
    error = str(results["dst"]["error"])
    assert results["dst"]["status"] == "error"
    assert "'detail.migration_id'" in error
    assert "'migration_id'" in error
    assert "'sum'" in error
    assert "'items'" in error
    assert results["after"]["status"] == "skipped"


@pytest.mark.anyio
async def test_connection_fills_an_unset_parameter_but_not_a_set_one() -> None:
    b = WorkflowBuilder()
    _calc(b, "src", "add", a=5)
    _calc(b, "filled", "add")  # a arrives over the connection
    _calc(b, "kept", "add", a=100)  # a is set: the connection only lands in inputs
    _calc(b, "echo", "echo")
    b.add_connection("src", "result", "filled", "a")
    b.add_connection("src", "result", "kept", "a")
    b.add_connection("src", "result", "echo", "value")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["filled"]["result"] == 5
    assert results["kept"]["result"] == 100
    assert results["echo"]["result"]["params"]["value"] == 5  # type: ignore[index]


@pytest.mark.anyio
async def test_connected_parameter_is_validated_at_run_time() -> None:
    b = WorkflowBuilder()
    _calc(b, "src", "echo", value="not a number")
    _calc(b, "dst", "add")
    b.add_connection("src", "result.params.value", "dst", "a")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["dst"]["status"] == "error"
    assert results["dst"]["error"] == (
        "node 'dst' (RtCalc.add): a: expected an integer, got 'not a number'"
    )


@pytest.mark.anyio
async def test_unused_connected_input_is_accepted() -> None:
    b = WorkflowBuilder()
    _calc(b, "first", "add", a=1)
    _calc(b, "second", "add", a=2)
    b.add_connection("first", "status", "second", "input")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["second"] == {
        "status": "ok",
        "result": 2,
        "detail": {"sum": 2, "items": [{"v": 2}, {"v": 0}]},
    }


@pytest.mark.anyio
async def test_failure_skips_dependents_and_spares_independent_branch() -> None:
    b = WorkflowBuilder()
    _calc(b, "boom", "fail")
    _calc(b, "child", "echo")
    _calc(b, "grandchild", "echo")
    _calc(b, "other", "add", a=1)
    _calc(b, "other_child", "echo")
    b.add_connection("boom", "result", "child", "x")
    b.add_connection("child", "result", "grandchild", "x")
    b.add_connection("other", "result", "other_child", "x")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["boom"] == {
        "status": "error",
        "result": None,
        "error": "ValueError: boom in node",
    }
    for node in ("child", "grandchild"):
        assert results[node] == {
            "status": "skipped",
            "result": None,
            "error": "skipped: upstream node 'boom' failed: ValueError: boom in node",
        }
    assert results["other_child"]["status"] == "ok"
    assert "Traceback" not in str(results["boom"]["error"])


@pytest.mark.anyio
async def test_reported_failure_and_broken_results() -> None:
    b = WorkflowBuilder()
    _calc(b, "reported", "report_failed")
    _calc(b, "no_keys", "bad_result")
    _calc(b, "not_dict", "not_a_dict")
    _calc(b, "after", "echo")
    b.add_connection("reported", "result", "after", "x")
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["reported"] == {
        "status": "error",
        "result": {"partial": 1},
        "error": "target edge is full",
    }
    assert results["after"]["error"] == (
        "skipped: upstream node 'reported' failed: target edge is full"
    )
    assert results["no_keys"]["status"] == "error"
    assert "without 'status' and 'result'" in str(results["no_keys"]["error"])
    assert "returned int" in str(results["not_dict"]["error"])


@pytest.mark.anyio
async def test_node_timeout() -> None:
    b = WorkflowBuilder()
    _calc(b, "slow", "hang", timeout="50ms")
    _calc(b, "fast", "add", a=1, timeout=30)
    results, _ = await LocalRuntime().execute_async(b.build())
    assert results["slow"] == {
        "status": "error",
        "result": None,
        "error": "TimeoutError: node 'slow' timed out after 0.05s",
    }
    assert results["fast"]["result"] == 1


@pytest.mark.anyio
async def test_upstream_results_nearest_first() -> None:
    b = WorkflowBuilder()
    _calc(b, "root", "add", a=1)
    _calc(b, "mid", "add", a=2)
    _calc(b, "leaf", "lineage")
    b.add_connection("root", "result", "mid", "input")
    b.add_connection("mid", "detail", "leaf", "input")
    results, _ = await LocalRuntime().execute_async(b.build())
    leaf = results["leaf"]
    assert leaf["result"] == [("mid", "add", 1), ("root", "add", 2)]
    assert leaf["nearest_add"] == "mid"
    assert leaf["nearest_missing"] is None
    assert leaf["found"] == 2


@pytest.mark.anyio
async def test_execute_async_does_not_block_the_callers_loop() -> None:
    engine = default_engine()
    door = uuid.uuid4().hex
    b = WorkflowBuilder()
    b.add_node("RtGate", "slow", {"operation": "wait", "door": door})
    ticks = 0
    outcome: list[tuple[dict[str, dict[str, object]], str]] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    async def run() -> None:
        outcome.append(await LocalRuntime().execute_async(b.build()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        tg.start_soon(run)
        from rt_support import gate_state

        while not (await gate_state(engine, door))[0]:
            await anyio.sleep(0.005)
        ticks_when_node_entered = ticks
        while ticks < ticks_when_node_entered + 5:
            await anyio.sleep(0.001)
        assert not outcome  # the node is still waiting while the ticker ticks
        await open_gate(engine, door)
        while not outcome:
            await anyio.sleep(0.005)
        tg.cancel_scope.cancel()
    assert outcome[0][0]["slow"] == {"status": "ok", "result": door}


@pytest.mark.anyio
async def test_cancelling_execute_async_cancels_the_run() -> None:

    engine = default_engine()
    door = uuid.uuid4().hex
    b = WorkflowBuilder()
    b.add_node("RtGate", "slow", {"operation": "wait", "door": door})
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(LocalRuntime().execute_async, b.build())
            while not (await gate_state(engine, door))[0]:
                await anyio.sleep(0.005)
            scope.cancel()
    assert scope.cancelled_caught
    # execute_async waited for the run to wind down: the node saw the cancellation.
    assert await gate_state(engine, door) == (True, True)


@pytest.mark.anyio
async def test_execute_inside_a_running_loop_is_refused() -> None:
    with pytest.raises(EngineError, match=r"use await runtime\.execute_async\(\.\.\.\)"):
        LocalRuntime().execute(diamond())


@pytest.mark.anyio
async def test_unbuilt_workflow_is_refused() -> None:
    b = WorkflowBuilder()
    with pytest.raises(WorkflowError, match=r"got WorkflowBuilder \(call \.build\(\)"):
        await LocalRuntime().execute_async(b)  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match="got dict"):
        LocalRuntime().execute({})  # type: ignore[arg-type]


def test_bad_max_concurrency() -> None:
    from edge_actors.errors import ConfigError

    with pytest.raises(ConfigError, match="max_concurrency: must be at least 1, got 0"):
        LocalRuntime(max_concurrency=0)


def test_node_events_are_logged_with_run_and_node_ids() -> None:
    b = WorkflowBuilder()
    _calc(b, "one", "add", a=1)
    _calc(b, "two", "fail")
    with capture_logs() as logs:
        _, run_id = LocalRuntime().execute(b.build())
    events = {(e["event"], e.get("node_id")): e for e in logs if e.get("run_id") == run_id}
    assert ("node.started", "one") in events
    assert events[("node.finished", "one")]["status"] == "ok"
    assert events[("node.finished", "two")]["error"] == "ValueError: boom in node"
    assert ("workflow.finished", None) in events
