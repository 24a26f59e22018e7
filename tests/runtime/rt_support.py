"""Real node types and services for the runtime tests (registered when imported).

They are small but real: arithmetic, echo, failures, a rendezvous that only completes
when two nodes run at the same time, a gate the test opens, and shared counters.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar

import anyio

from edge_actors.workflow import (
    Node,
    NodeContext,
    OperationSpec,
    ParamSpec,
    register_node_type,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from edge_actors.runtime import Engine


class Recorder:
    """Order in which nodes started, per run id."""

    def __init__(self) -> None:
        self.started: dict[str, list[str]] = {}


@contextlib.asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    yield Recorder()


class Rendezvous:
    """Named events living on the engine loop."""

    def __init__(self) -> None:
        self.events: dict[str, anyio.Event] = {}

    def event(self, name: str) -> anyio.Event:
        return self.events.setdefault(name, anyio.Event())


@contextlib.asynccontextmanager
async def rendezvous() -> AsyncIterator[Rendezvous]:
    yield Rendezvous()


class Gate:
    """A node waits on ``opened[name]``; the test sees ``entered`` and ``cancelled``."""

    def __init__(self) -> None:
        self.opened: dict[str, anyio.Event] = {}
        self.entered: set[str] = set()
        self.cancelled: set[str] = set()

    def door(self, name: str) -> anyio.Event:
        return self.opened.setdefault(name, anyio.Event())


@contextlib.asynccontextmanager
async def gate() -> AsyncIterator[Gate]:
    yield Gate()


async def open_gate(engine: Engine, name: str) -> None:
    """Open door ``name`` from any thread or loop (runs on the engine loop)."""

    async def _open() -> None:
        (await engine.service(Gate, gate)).door(name).set()

    await engine.call_async(_open)


async def gate_state(engine: Engine, name: str) -> tuple[bool, bool]:
    """Return ``(entered, cancelled)`` for door ``name``."""

    async def _state() -> tuple[bool, bool]:
        g = await engine.service(Gate, gate)
        return name in g.entered, name in g.cancelled

    return await engine.call_async(_state)


class Counter:
    def __init__(self) -> None:
        self.count = 0


@contextlib.asynccontextmanager
async def counter() -> AsyncIterator[Counter]:
    yield Counter()


@register_node_type
class RtCalc(Node):
    """Arithmetic, echo and deliberate failures."""

    type_name: ClassVar[str] = "RtCalc"
    operations: ClassVar[Mapping[str, OperationSpec]] = {
        "add": OperationSpec(params=(ParamSpec("a", required=True), ParamSpec("b", default=0))),
        "echo": OperationSpec(params=(ParamSpec("value"),)),
        "fail": OperationSpec(),
        "report_failed": OperationSpec(),
        "bad_result": OperationSpec(),
        "not_a_dict": OperationSpec(),
        "hang": OperationSpec(),
        "lineage": OperationSpec(),
    }
    common_params: ClassVar[tuple[ParamSpec, ...]] = (ParamSpec("tag"),)

    @classmethod
    def validate(cls, operation: str, params: Mapping[str, object]) -> None:
        from edge_actors.errors import ConfigError

        for key in ("a", "b"):
            if key in params and params[key] is not None and not isinstance(params[key], int):
                raise ConfigError(f"{key}: expected an integer, got {params[key]!r}")

    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        rec = await ctx.services.service(Recorder, recorder)
        rec.started.setdefault(ctx.run_id, []).append(ctx.node_id)
        op = ctx.operation
        if op == "add":
            a, b = params["a"], params["b"]
            assert isinstance(a, int)
            assert isinstance(b, int)
            total = a + b
            return {
                "status": "ok",
                "result": total,
                "detail": {"sum": total, "items": [{"v": a}, {"v": b}]},
            }
        if op == "echo":
            return {"status": "ok", "result": {"params": params, "inputs": inputs}}
        if op == "fail":
            raise ValueError("boom in node")
        if op == "report_failed":
            return {"status": "failed", "result": {"partial": 1}, "error": "target edge is full"}
        if op == "bad_result":
            return {"value": 1}
        if op == "not_a_dict":
            return 42  # type: ignore[return-value]  # deliberately broken node
        if op == "hang":
            await anyio.sleep_forever()
        if op == "lineage":
            nearest = ctx.nearest_upstream("RtCalc", "add")
            return {
                "status": "ok",
                "result": [(u.node_id, u.operation, u.distance) for u in ctx.upstream_results()],
                "nearest_add": nearest[0] if nearest else None,
                "nearest_missing": ctx.nearest_upstream("RtCalc", "fail"),
                "found": ctx.find_value(inputs, "sum"),
            }
        raise AssertionError(op)


@register_node_type
class RtMeet(Node):
    """Completes only if its partner node runs at the same time (proves overlap)."""

    type_name: ClassVar[str] = "RtMeet"
    operations: ClassVar[Mapping[str, OperationSpec]] = {
        "meet": OperationSpec(
            params=(ParamSpec("me", required=True), ParamSpec("partner", required=True))
        ),
    }

    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        r = await ctx.services.service(Rendezvous, rendezvous)
        r.event(str(params["me"])).set()
        await r.event(str(params["partner"])).wait()
        return {"status": "ok", "result": params["me"]}


@register_node_type
class RtGate(Node):
    """Waits until the test opens its door; records entry and cancellation."""

    type_name: ClassVar[str] = "RtGate"
    operations: ClassVar[Mapping[str, OperationSpec]] = {
        "wait": OperationSpec(params=(ParamSpec("door", required=True),)),
    }

    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        g = await ctx.services.service(Gate, gate)
        name = str(params["door"])
        g.entered.add(name)
        try:
            await g.door(name).wait()
        except anyio.get_cancelled_exc_class():
            g.cancelled.add(name)
            raise
        return {"status": "ok", "result": name}


@register_node_type
class RtCount(Node):
    """Increments the process-wide Counter service."""

    type_name: ClassVar[str] = "RtCount"
    operations: ClassVar[Mapping[str, OperationSpec]] = {"bump": OperationSpec()}

    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        c = await ctx.services.service(Counter, counter)
        c.count += 1
        return {"status": "ok", "result": c.count, "service_id": id(c)}
