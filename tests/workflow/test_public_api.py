"""The public names are what the guide and the docs promise."""

from __future__ import annotations

import edge_actors.runtime
import edge_actors.workflow


def test_guide_import_paths() -> None:
    from edge_actors.runtime.local import LocalRuntime
    from edge_actors.workflow.builder import WorkflowBuilder

    assert WorkflowBuilder is edge_actors.workflow.WorkflowBuilder
    assert LocalRuntime is edge_actors.runtime.LocalRuntime


def test_all_lists() -> None:
    assert set(edge_actors.runtime.__all__) == {
        "EdgeEnvironment",
        "Engine",
        "EngineError",
        "EngineState",
        "EnvironmentConfig",
        "LocalRuntime",
        "configure_environment",
        "configure_environment_async",
        "default_engine",
        "get_environment",
    }
    assert {"Node", "NodeContext", "OperationSpec", "ParamSpec", "Workflow"} <= set(
        edge_actors.workflow.__all__
    )
    for name in edge_actors.workflow.__all__:
        assert getattr(edge_actors.workflow, name).__module__.startswith("edge_actors.workflow")
