"""Node types for the builder tests, registered when this conftest is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from edge_actors.units import parse_duration
from edge_actors.workflow import Node, NodeContext, OperationSpec, ParamSpec, register_node_type

if TYPE_CHECKING:
    from collections.abc import Mapping


@register_node_type
class WfTimer(Node):
    """Sleeps for a validated duration; exercises required params and value checks."""

    type_name: ClassVar[str] = "WfTimer"
    operations: ClassVar[Mapping[str, OperationSpec]] = {
        "wait": OperationSpec(
            params=(ParamSpec("delay", required=True, doc="how long, e.g. '5s'"),)
        ),
        "note": OperationSpec(params=(ParamSpec("text", default="hello"),)),
    }
    common_params: ClassVar[tuple[ParamSpec, ...]] = (ParamSpec("label"),)

    @classmethod
    def validate(cls, operation: str, params: Mapping[str, object]) -> None:
        if "delay" in params:
            parse_duration(params["delay"], field="delay")  # type: ignore[arg-type]

    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        return {"status": "ok", "result": params}
