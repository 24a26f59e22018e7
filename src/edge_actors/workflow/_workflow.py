"""The built, validated, immutable workflow graph (layer: workflow).

:class:`Workflow` checks everything that can be checked before a run: node types,
operations, parameter keys, required parameters, parameter values (through each node
type's ``validate`` hook), connection endpoints, and cycles. An instance is therefore
always runnable; :class:`~edge_actors.workflow.WorkflowBuilder` is the friendly way to
make one.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec

from edge_actors.errors import ConfigError
from edge_actors.schema import short
from edge_actors.units import parse_duration

from ._errors import WorkflowError
from ._registry import get_node_type

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["Connection", "NodeSpec", "Workflow"]


class NodeSpec(msgspec.Struct, frozen=True):
    """One node of a built workflow.

    Attributes:
        node_id: unique id within the workflow.
        type_name: the registered node type.
        operation: the operation the node runs.
        config: the config dict as given to ``add_node`` (a private deep copy).
        timeout: the ``timeout`` parameter in seconds, or ``None`` for no limit.
    """

    node_id: str
    type_name: str
    operation: str
    config: dict[str, object]
    timeout: float | None = None


class Connection(msgspec.Struct, frozen=True):
    """A data edge: ``source_id.source_output`` feeds ``target_id``'s ``target_input``.

    A connection also orders the nodes: the target runs after the source succeeded.
    """

    source_id: str
    source_output: str
    target_id: str
    target_input: str

    def __str__(self) -> str:
        return f"{self.source_id}.{self.source_output} -> {self.target_id}.{self.target_input}"


MAX_ID_LEN = 128
"""Longest node id, connection output path or input name."""


def _name_problem(value: object) -> str | None:
    """Why ``value`` cannot be a node id or input name, or ``None`` when it can."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_ID_LEN:
        return f"must be at most {MAX_ID_LEN} characters"
    if not value.isprintable() or value != value.strip():
        return "must be printable, without leading or trailing spaces"
    return None


RawNode = tuple[str, str, "Mapping[str, object] | None"]
"""``(node_id, type_name, params)`` as recorded by ``WorkflowBuilder.add_node``."""


class Workflow:
    """A validated DAG of nodes, ready for ``LocalRuntime.execute``.

    Instances are immutable and can be executed any number of times, by any runtime,
    concurrently. Build one with :meth:`WorkflowBuilder.build`.

    Raises:
        WorkflowError: from the constructor, listing every problem found.
    """

    __slots__ = (
        "_classes",
        "_configs",
        "_connections",
        "_deferred",
        "_incoming",
        "_nodes",
        "_order",
        "_outgoing",
    )

    def __init__(self, nodes: Sequence[RawNode], connections: Sequence[Connection]) -> None:
        problems: list[str] = []
        specs: dict[str, NodeSpec] = {}
        classes: dict[str, type[Node]] = {}
        deferred: dict[str, str] = {}
        seen: set[str] = set()
        for node_id, type_name, params in nodes:
            if isinstance(node_id, str) and node_id in seen:
                problems.append(f"duplicate node id {short(node_id)}: node ids must be unique")
                continue
            if isinstance(node_id, str):
                seen.add(node_id)
            self._check_node(node_id, type_name, params, specs, classes, problems, deferred)
        valid_connections = self._check_connections(connections, nodes, problems)
        incoming: dict[str, list[Connection]] = {node_id: [] for node_id in specs}
        outgoing: dict[str, list[Connection]] = {node_id: [] for node_id in specs}
        for connection in valid_connections:
            if connection.target_id in incoming:
                incoming[connection.target_id].append(connection)
            if connection.source_id in outgoing:
                outgoing[connection.source_id].append(connection)
        for node_id, spec in specs.items():
            if node_id not in deferred:
                self._check_params(spec, classes[node_id], incoming[node_id], problems)
        order = _topological_order(
            [n[0] for n in nodes if isinstance(n[0], str)], valid_connections, problems
        )
        if problems:
            raise WorkflowError(problems)
        self._nodes: Mapping[str, NodeSpec] = MappingProxyType(specs)
        # The configs runs use: private copies, so changing a NodeSpec's config dict (or
        # anything nested in it) after build() cannot smuggle unvalidated values in.
        self._configs = {k: copy.deepcopy(v.config) for k, v in specs.items()}
        self._classes: Mapping[str, type[Node]] = MappingProxyType(classes)
        self._deferred: Mapping[str, str] = MappingProxyType(deferred)
        self._connections = tuple(connections)
        self._incoming = {k: tuple(v) for k, v in incoming.items()}
        self._outgoing = {k: tuple(v) for k, v in outgoing.items()}
        self._order = order

    @staticmethod
    def _check_node(
        node_id: object,
        type_name: object,
        params: object,
        specs: dict[str, NodeSpec],
        classes: dict[str, type[Node]],
        problems: list[str],
        deferred: dict[str, str],
    ) -> None:
        why = _name_problem(node_id)
        if why is not None or not isinstance(node_id, str):
            problems.append(f"node id {why}, got {short(node_id)}")
            return
        if not isinstance(type_name, str):
            problems.append(f"node {node_id!r}: type name must be a string, got {type_name!r}")
            return
        try:
            cls = get_node_type(type_name)
        except WorkflowError as exc:
            problems.append(f"node {node_id!r}: {exc}")
            return
        if params is None:
            params = {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            problems.append(f"node {node_id!r}: params must be a dict with string keys")
            return
        operations = ", ".join(sorted(cls.operations))
        operation = params.get("operation")
        if operation is None:
            problems.append(
                f"node {node_id!r} ({type_name}): missing 'operation' (operations: {operations})"
            )
            return
        if not isinstance(operation, str) or operation not in cls.operations:
            message = (
                f"node {node_id!r} ({type_name}): unknown operation {short(operation)} "
                f"(operations: {operations})"
            )
            if cls.unknown_operations_at_run and isinstance(operation, str) and operation:
                # The guide's original SDK reports this as the node's error result.
                deferred[node_id] = message
                config = copy.deepcopy(dict(params))
                specs[node_id] = NodeSpec(node_id, type_name, operation, config)
                classes[node_id] = cls
            else:
                problems.append(message)
            return
        known = set(cls.known_keys(operation))
        unknown = [key for key in params if key not in known]
        if unknown:
            listed = ", ".join(repr(k) for k in unknown)
            problems.append(
                f"node {node_id!r} ({type_name}.{operation}): unknown parameter"
                f"{'s' if len(unknown) > 1 else ''} {listed} "
                f"(known for {operation!r}: {', '.join(sorted(known))})"
            )
            return
        timeout: float | None = None
        if params.get("timeout") is not None:
            raw_timeout = params["timeout"]
            try:
                timeout = parse_duration(raw_timeout, field="timeout")
            except ConfigError as exc:
                problems.append(f"node {node_id!r}: {exc}")
                return
        specs[node_id] = NodeSpec(
            node_id=node_id,
            type_name=type_name,
            operation=operation,
            config=copy.deepcopy(dict(params)),
            timeout=timeout,
        )
        classes[node_id] = cls

    @staticmethod
    def _check_connections(
        connections: Sequence[Connection], nodes: Sequence[RawNode], problems: list[str]
    ) -> list[Connection]:
        ids = [i for i in dict.fromkeys(n[0] for n in nodes if isinstance(n[0], str))]
        listed = ", ".join(short(i) for i in ids[:20]) or "none"
        if len(ids) > 20:
            listed += f", ... ({len(ids)} nodes)"
        valid: list[Connection] = []
        fed: dict[tuple[str, str], Connection] = {}
        for c in connections:
            bad = False
            text = str(c)
            label = text if len(text) <= 160 else f"{text[:157]}..."
            for field, value in (
                ("source output", c.source_output),
                ("target input", c.target_input),
            ):
                why = _name_problem(value)
                if why is None and field == "source output" and _empty_segment(str(value)):
                    why = "must be a key or a dotted path without empty segments"
                if why is not None:
                    problems.append(f"connection {label}: {field} {why}")
                    bad = True
            for role, node_id in (("source", c.source_id), ("target", c.target_id)):
                if not isinstance(node_id, str) or node_id not in ids:
                    problems.append(
                        f"connection {label}: {role} node {short(node_id)} does not exist "
                        f"(nodes: {listed})"
                    )
                    bad = True
            if bad:
                continue
            previous = fed.get((c.target_id, c.target_input))
            if previous is not None:
                problems.append(
                    f"input {c.target_input!r} of node {c.target_id!r} is connected twice "
                    f"({previous} and {c}); give each connection its own input name"
                )
                continue
            fed[(c.target_id, c.target_input)] = c
            valid.append(c)
        return valid

    @staticmethod
    def _check_params(
        spec: NodeSpec, cls: type[Node], incoming: Sequence[Connection], problems: list[str]
    ) -> None:
        connected = {c.target_input for c in incoming}
        param_specs = cls.param_specs(spec.operation)
        label = f"node {spec.node_id!r} ({spec.type_name}.{spec.operation})"
        for c in incoming:
            why = _input_problem(cls, spec.operation, c.target_input)
            if why is not None:
                problems.append(f"connection {c}: {label} {why}")
        missing = [
            " or ".join(repr(n) for n in (p.name, *p.aliases))
            for p in param_specs.values()
            if p.required
            and not any(n in spec.config or n in connected for n in (p.name, *p.aliases))
        ]
        if missing:
            problems.append(
                f"{label}: missing required parameter{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (set it or connect an output to it)"
            )
            return
        params = dict(copy.deepcopy(spec.config))
        for name, param in param_specs.items():
            names = (name, *param.aliases)
            if not any(n in params or n in connected for n in names):
                params[name] = copy.deepcopy(param.default)
        try:
            cls.validate(spec.operation, params)
        except Exception as exc:  # a validator bug is reported like a bad value
            problems.append(f"{label}: {_describe(exc)}")

    @property
    def nodes(self) -> Mapping[str, NodeSpec]:
        """The nodes by id, in the order they were added."""
        return self._nodes

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every connection, in the order they were added."""
        return self._connections

    @property
    def order(self) -> tuple[str, ...]:
        """A topological order of the node ids (stable: ties keep insertion order)."""
        return self._order

    def node_class(self, node_id: str) -> type[Node]:
        """Return the node type class of ``node_id`` (resolved at build time)."""
        return self._classes[node_id]

    def incoming(self, node_id: str) -> tuple[Connection, ...]:
        """Return the connections into ``node_id``, in the order they were added."""
        return self._incoming[node_id]

    def upstream(self, node_id: str) -> tuple[str, ...]:
        """Return the direct upstream node ids of ``node_id`` (first connection first)."""
        return tuple(dict.fromkeys(c.source_id for c in self._incoming[node_id]))

    def downstream(self, node_id: str) -> tuple[str, ...]:
        """Return the direct downstream node ids of ``node_id``."""
        return tuple(dict.fromkeys(c.target_id for c in self._outgoing[node_id]))

    def ancestors(self, node_id: str) -> list[tuple[str, int]]:
        """Return every transitive upstream node with its distance, nearest first."""
        found: dict[str, int] = {}
        queue: deque[tuple[str, int]] = deque((u, 1) for u in self.upstream(node_id))
        while queue:
            current, distance = queue.popleft()
            if current in found:
                continue
            found[current] = distance
            queue.extend((u, distance + 1) for u in self.upstream(current))
        return list(found.items())

    def initial_params(self, node_id: str) -> dict[str, object]:
        """Return a fresh copy of the node's config with every absent default filled in.

        A parameter set under one of its aliases, in the config or by a connection, gets
        no default under its own name.
        """
        spec = self._nodes[node_id]
        params = copy.deepcopy(self._configs[node_id])
        if node_id in self._deferred:
            return params
        connected = {c.target_input for c in self._incoming[node_id]}
        for name, param in self._classes[node_id].param_specs(spec.operation).items():
            if not any(n in params or n in connected for n in (name, *param.aliases)):
                params[name] = copy.deepcopy(param.default)
        return params

    def unknown_operation(self, node_id: str) -> str | None:
        """Why ``node_id`` cannot run, when its node type reports an unknown operation as
        the node's error result (``Node.unknown_operations_at_run``); else ``None``."""
        return self._deferred.get(node_id)

    def configured(self, node_id: str) -> frozenset[str]:
        """Return the parameter names the node's config sets (as validated at build)."""
        return frozenset(self._configs[node_id])

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"Workflow(nodes={list(self._nodes)!r}, connections={len(self._connections)})"


_INDEX = re.compile(r"\[(-?\d+)\]")


def _empty_segment(output: str) -> bool:
    """True when the dotted path ``output`` has an empty segment (``a..b``, ``.a``, ``...``)."""
    return "" in _INDEX.sub(r".\1", output).split(".")


def _input_problem(cls: type[Node], operation: str, name: str) -> str | None:
    """Why a connection into input ``name`` would be silently ignored, else ``None``.

    An input that is not a parameter is a free input (ordering, and data the node may
    search, such as a ``migration_id``). A free name that looks like one of the
    operation's parameters (a typo), or is a parameter of another operation of the same
    node type, would be read by nobody: the build refuses it instead.
    """
    own = cls.param_names(operation)
    if name in own:
        return None
    close = difflib.get_close_matches(name, sorted(own), n=1, cutoff=0.8)
    if close:
        return f"has no parameter {name!r}: did you mean {close[0]!r}?"
    elsewhere = sorted(op for op in cls.operations if name in cls.param_names(op))
    if elsewhere:
        takes = ", ".join(sorted(own)) or "none"
        return (
            f"has no parameter {name!r} (that is a parameter of {', '.join(elsewhere)}; "
            f"{operation} takes: {takes}); connect it to a parameter of {operation}, or "
            "use a free input name such as 'input'"
        )
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ConfigError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _topological_order(
    ids: Sequence[str], connections: Sequence[Connection], problems: list[str]
) -> tuple[str, ...]:
    unique = list(dict.fromkeys(ids))
    successors: dict[str, list[str]] = {i: [] for i in unique}
    indegree = dict.fromkeys(unique, 0)
    for c in connections:
        if c.target_id not in successors[c.source_id]:
            successors[c.source_id].append(c.target_id)
            indegree[c.target_id] += 1
    ready = deque(i for i in unique if indegree[i] == 0)
    order: list[str] = []
    while ready:
        current = ready.popleft()
        order.append(current)
        for nxt in successors[current]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    if len(order) < len(unique):
        cycle = _find_cycle([i for i in unique if indegree[i] > 0], connections)
        problems.append("connections form a cycle: " + " -> ".join(repr(n) for n in cycle))
    return tuple(order)


def _find_cycle(stuck: list[str], connections: Sequence[Connection]) -> list[str]:
    # Every node Kahn's algorithm could not order has a predecessor that is also stuck,
    # so walking predecessors from any of them must come back to a node already seen.
    remaining = set(stuck)
    predecessor: dict[str, str] = {}
    for c in connections:
        if c.target_id in remaining and c.source_id in remaining:
            predecessor.setdefault(c.target_id, c.source_id)
    path: list[str] = []
    position: dict[str, int] = {}
    current = stuck[0]
    while current not in position:
        position[current] = len(path)
        path.append(current)
        current = predecessor[current]
    cycle = path[position[current] :]
    cycle.reverse()
    return [*cycle, cycle[0]]
