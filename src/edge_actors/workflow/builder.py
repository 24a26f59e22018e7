"""Public module path ``edge_actors.workflow.builder`` (layer: workflow): the builder."""

from __future__ import annotations

from ._builder import WorkflowBuilder as WorkflowBuilder

__all__ = ["WorkflowBuilder"]
