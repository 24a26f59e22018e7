"""One run of a workflow on the engine loop: scheduling, inputs, failures (layer: runtime).

Every node gets a task in one task group; a node's task waits for its direct upstream
nodes, then either runs the node (bounded by a capacity limiter: ``max_concurrency``) or,
when an upstream node failed or was skipped, records itself as skipped naming the node
that failed first. Independent branches are unaffected by each other's failures. A node
failure never raises: it becomes the node's result.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import anyio

from edge_actors._log import get_logger
from edge_actors.errors import ConfigError
from edge_actors.workflow import NodeContext, OutputPathError, resolve_output

if TYPE_CHECKING:
    from edge_actors.workflow import Services, Workflow

__all__ = ["FAILED", "LEGACY_FAILED", "SKIPPED", "describe_error", "run_workflow"]

FAILED = "error"
"""``status`` of a node that raised, timed out, returned a failure or returned garbage.

The guide's original SDK marks a failed node ``"error"``, so code written for it (``if
r["status"] == "error"``) sees failures here too.
"""

LEGACY_FAILED = "failed"
"""The failure word node types used before: still accepted from ``run``, reported as
:data:`FAILED`."""

SKIPPED = "skipped"
"""``status`` of a node not run because an upstream node failed."""


def describe_error(exc: BaseException) -> str:
    """Return ``"<ExceptionType>: <text>"`` for ``exc`` (single-leaf groups unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed(error: str) -> dict[str, object]:
    return {"status": FAILED, "result": None, "error": error}


class _Run:
    """State of one run; lives on the engine loop for the duration of the run."""

    def __init__(
        self, workflow: Workflow, services: Services, run_id: str, max_concurrency: int
    ) -> None:
        self.workflow = workflow
        self.services = services
        self.run_id = run_id
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.results: dict[str, dict[str, object]] = {}
        self.done = {node_id: anyio.Event() for node_id in workflow.nodes}
        # For a failed node: itself and its error; for a skipped one: the root failure.
        self.root_failure: dict[str, tuple[str, str]] = {}
        self.log = get_logger("runtime", run_id=run_id)

    async def run(self) -> dict[str, dict[str, object]]:
        self.log.info("workflow.started", nodes=len(self.workflow))
        async with anyio.create_task_group() as tg:
            for node_id in self.workflow.order:
                tg.start_soon(self._node_task, node_id, name=f"node {node_id}")
        results = {node_id: self.results[node_id] for node_id in self.workflow.nodes}
        failed = sorted(n for n, r in results.items() if r["status"] == FAILED)
        self.log.info("workflow.finished", failed=failed)
        return results

    async def _node_task(self, node_id: str) -> None:
        try:
            upstream = self.workflow.upstream(node_id)
            for upstream_id in upstream:
                await self.done[upstream_id].wait()
            for upstream_id in upstream:
                root = self.root_failure.get(upstream_id)
                if root is not None:
                    self.root_failure[node_id] = root
                    self.results[node_id] = {
                        "status": SKIPPED,
                        "result": None,
                        "error": f"skipped: upstream node {root[0]!r} failed: {root[1]}",
                    }
                    self.log.warning("node.skipped", node_id=node_id, failed_upstream=root[0])
                    return
            async with self.limiter:
                result = await self._run_node(node_id)
            self.results[node_id] = result
            if result["status"] == FAILED:
                self.root_failure[node_id] = (node_id, str(result["error"]))
        finally:
            self.done[node_id].set()

    def _gather(self, node_id: str) -> tuple[dict[str, object], dict[str, object], bool]:
        """Return ``(params, inputs, filled)``; raises OutputPathError for a bad path."""
        spec = self.workflow.nodes[node_id]
        params = self.workflow.initial_params(node_id)
        param_names = self.workflow.node_class(node_id).param_names(spec.operation)
        configured = self.workflow.configured(node_id)
        inputs: dict[str, object] = {}
        filled = False
        for c in self.workflow.incoming(node_id):
            value = resolve_output(self.results[c.source_id], c.source_output, source=c.source_id)
            inputs[c.target_input] = value
            if c.target_input in param_names and c.target_input not in configured:
                params[c.target_input] = value
                filled = True
        return params, inputs, filled

    async def _run_node(self, node_id: str) -> dict[str, object]:
        spec = self.workflow.nodes[node_id]
        cls = self.workflow.node_class(node_id)
        log = self.log.bind(node_id=node_id, node_type=spec.type_name, operation=spec.operation)
        log.info("node.started")
        started = time.monotonic()
        refused = self.workflow.unknown_operation(node_id)
        if refused is not None:
            log.warning("node.finished", status=FAILED, error=refused)
            return _failed(refused)
        try:
            params, inputs, filled = self._gather(node_id)
            if filled:
                cls.validate(spec.operation, params)
            ctx = NodeContext(
                node_id=node_id,
                run_id=self.run_id,
                workflow=self.workflow,
                services=self.services,
                results=self.results,
                logger=log,
            )
            deadline = math.inf if spec.timeout is None else anyio.current_time() + spec.timeout
            with anyio.CancelScope(deadline=deadline) as scope:
                outcome: object = await cls().run(ctx, params, inputs)
            if scope.cancelled_caught:
                result = _failed(f"TimeoutError: node {node_id!r} timed out after {spec.timeout}s")
            else:
                result = self._check_result(node_id, outcome)
        except OutputPathError as exc:
            result = _failed(f"input of node {node_id!r}: {exc}")
        except ConfigError as exc:
            label = f"{spec.type_name}.{spec.operation}"
            result = _failed(f"node {node_id!r} ({label}): {str(exc) or type(exc).__name__}")
        except Exception as exc:
            result = _failed(describe_error(exc))
            log.debug("node.exception", exc_info=exc)
        # A failure at warning level: the default log level shows it, so a first run
        # explains itself on stderr even when the script never prints the results.
        emit = log.warning if result["status"] == FAILED else log.info
        emit(
            "node.finished",
            status=result["status"],
            error=result.get("error"),
            duration_s=round(time.monotonic() - started, 6),
        )
        return result

    @staticmethod
    def _check_result(node_id: str, outcome: object) -> dict[str, object]:
        if not isinstance(outcome, dict):
            return _failed(
                f"node {node_id!r} returned {type(outcome).__name__}, expected a dict with "
                "'status' and 'result' (a bug in the node type)"
            )
        missing = [key for key in ("status", "result") if key not in outcome]
        if missing:
            return _failed(
                f"node {node_id!r} returned a result without {' and '.join(map(repr, missing))} "
                f"(keys: {', '.join(map(repr, outcome)) or 'none'}; a bug in the node type)"
            )
        if not isinstance(outcome["status"], str):
            return _failed(
                f"node {node_id!r} returned status {outcome['status']!r}, expected a string "
                "(a bug in the node type)"
            )
        if outcome["status"] in (FAILED, LEGACY_FAILED):
            if not outcome.get("error"):
                outcome["error"] = (
                    f"node {node_id!r} reported status {outcome['status']!r} without an error"
                )
            outcome["status"] = FAILED
        return outcome


async def run_workflow(
    workflow: Workflow, *, services: Services, run_id: str, max_concurrency: int
) -> dict[str, dict[str, object]]:
    """Run ``workflow`` on the current loop and return every node's result, by node id.

    Never raises for a node failure. Cancellation cancels every running node and
    propagates.
    """
    return await _Run(workflow, services, run_id, max_concurrency).run()
