"""Digging values out of node results: output paths and key search (layer: workflow).

A connection names a source output as a key of the source's result dict or as a dotted
path into it (``plan.migration_id``, ``items.0.name`` or ``items[0].name``). Dicts,
lists, tuples and msgspec Structs can be walked. :func:`find_value` searches a nested value
for a key, breadth first, for nodes that accept loosely shaped connected inputs.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from typing import Any

import msgspec

from ._errors import WorkflowError

__all__ = ["OutputPathError", "find_value", "resolve_output"]

_INDEX = re.compile(r"\[(-?\d+)\]")


class OutputPathError(WorkflowError):
    """A connection's source output does not exist in the source node's result."""


def _children(value: object) -> list[tuple[str, object]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, msgspec.Struct):
        return [(f, getattr(value, f)) for f in value.__struct_fields__]
    if isinstance(value, list | tuple):
        return [(str(i), v) for i, v in enumerate(value)]
    return []


def _describe_keys(value: object) -> str:
    if isinstance(value, Mapping):
        return "keys: " + (", ".join(repr(k) for k in value) or "none")
    if isinstance(value, msgspec.Struct):
        return "fields: " + (", ".join(repr(f) for f in value.__struct_fields__) or "none")
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return f"a value of type {type(value).__name__}, which has no keys"


def _step(value: object, segment: str) -> tuple[bool, object]:
    if isinstance(value, Mapping):
        if segment in value:
            return True, value[segment]
        return False, None
    if isinstance(value, msgspec.Struct):
        if segment in value.__struct_fields__:
            return True, getattr(value, segment)
        return False, None
    if isinstance(value, list | tuple):
        try:
            return True, value[int(segment)]
        except (ValueError, IndexError):
            return False, None
    return False, None


def resolve_output(result: Mapping[str, Any], output: str, *, source: str = "source") -> object:
    """Return the value of ``output`` in a node's ``result`` dict.

    ``output`` is first looked up as a plain key; otherwise it is a dotted path whose
    segments are keys, Struct fields or list indices (``a.0.b`` or ``a[0].b``).

    Args:
        result: the source node's result dict.
        output: the connection's source output.
        source: the source node id, for the error message.

    Raises:
        OutputPathError: a segment is missing; the message names the path, the segment
            and the keys that were available at that point.
    """
    if output in result:
        return result[output]
    segments = _INDEX.sub(r".\1", output).split(".")
    value: object = result
    walked: list[str] = []
    for segment in segments:
        found, next_value = _step(value, segment)
        if not found:
            where = f"in {'.'.join(walked)!r}" if walked else "at the top of the result"
            raise OutputPathError(
                f"output {output!r} of node {source!r} not found: no {segment!r} {where} "
                f"(available {_describe_keys(value)})"
            )
        walked.append(segment)
        value = next_value
    return value


def find_value(value: object, key: str) -> object | None:
    """Return the value stored under ``key`` anywhere inside ``value``, shallowest first.

    Walks dicts, lists, tuples and msgspec Structs breadth first, so a key at the top wins
    over the same key deeper down; among equally deep ones, the first in iteration order.

    Returns:
        The value found, or ``None`` when no dict key or Struct field is called ``key``.
    """
    queue: deque[object] = deque([value])
    seen: set[int] = set()
    while queue:
        current = queue.popleft()
        if id(current) in seen:
            continue
        seen.add(id(current))
        children = _children(current)
        if not isinstance(current, list | tuple):
            for name, child in children:
                if name == key:
                    return child
        queue.extend(child for _, child in children)
    return None
