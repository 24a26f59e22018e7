"""Declarations of what a node type accepts: parameters and operations (layer: workflow).

A node type lists its operations, each with its parameters, as plain msgspec Structs. The
builder reads them to refuse unknown keys and missing required values before anything
runs, and to fill defaults.
"""

from __future__ import annotations

import msgspec

__all__ = ["RESERVED_PARAMS", "OperationSpec", "ParamSpec"]

RESERVED_PARAMS: frozenset[str] = frozenset(("operation", "timeout"))
"""Parameters the framework itself gives every node: ``operation`` picks the operation,
``timeout`` (optional, seconds or a duration string such as ``"30s"``) bounds the run."""


class ParamSpec(msgspec.Struct, frozen=True):
    """One parameter of an operation.

    Attributes:
        name: the key in the node's config dict.
        required: the build fails when the config does not set it and no connection
            delivers it (default ``False``).
        default: the value a node sees when the config leaves the parameter out (a deep
            copy per run, so a mutable default is safe).
        doc: one line for humans; shown in docs and error messages.
        aliases: other names the config may use for it (e.g. the guide's original SDK's
            ``edge_node`` for ``edge``); any of them meets ``required``, and the node
            reads whichever is set (it sees the names as given, not renamed).
    """

    name: str
    required: bool = False
    default: object = None
    doc: str = ""
    aliases: tuple[str, ...] = ()


class OperationSpec(msgspec.Struct, frozen=True):
    """One operation of a node type and the parameters it accepts.

    Attributes:
        params: the operation's own parameters (in addition to the node type's
            ``common_params`` and the framework's ``operation`` and ``timeout``).
        doc: one line for humans.
    """

    params: tuple[ParamSpec, ...] = ()
    doc: str = ""
